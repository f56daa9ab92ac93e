#if canImport(Glibc)
import Glibc
#endif
import CWren

/// Large buffers (model copies, file contents, arenas) come from `posix_memalign`, not Swift's
/// allocator: Swift traps when memory runs out, and no trap may cross the C boundary, whereas a
/// NULL from the C allocator becomes `WREN_ERROR_OUT_OF_MEMORY`. Freed with `free`.
func allocateAligned(byteCount: Int, purpose: String) throws(CFailure) -> UnsafeMutableRawPointer {
    var memory: UnsafeMutableRawPointer?
    let result = posix_memalign(&memory, Int(WREN_ARENA_ALIGNMENT), max(byteCount, 1))
    guard result == 0, let memory else {
        throw CFailure(WREN_ERROR_OUT_OF_MEMORY, "cannot allocate \(byteCount) bytes for \(purpose)")
    }
    return memory
}

/// True when `pointer` sits at a multiple of `WREN_ARENA_ALIGNMENT`.
func isAligned(_ pointer: UnsafeRawPointer) -> Bool {
    UInt(bitPattern: pointer) % UInt(WREN_ARENA_ALIGNMENT) == 0
}
