#if canImport(Glibc)
import Glibc
#endif

/// A context's arena memory. Where the C library is at hand it comes from `posix_memalign`, so that
/// running out of memory is a `WrenError` (Swift's allocator traps instead); on Embedded targets,
/// which have no C library to import, from Swift's allocator.
enum ArenaMemory {
    /// `byteCount` bytes (at least 1) aligned to `WrenFormat.alignment`, or nil when the system refuses.
    static func allocate(byteCount: Int) -> UnsafeMutableRawPointer? {
        #if canImport(Glibc)
        var memory: UnsafeMutableRawPointer?
        guard posix_memalign(&memory, WrenFormat.alignment, max(byteCount, 1)) == 0 else { return nil }
        return memory
        #else
        return UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: WrenFormat.alignment)
        #endif
    }

    /// Frees memory from `allocate`.
    static func free(_ memory: UnsafeMutableRawPointer) {
        #if canImport(Glibc)
        Glibc.free(memory)
        #else
        memory.deallocate()
        #endif
    }
}
