/// The bytes of a loaded model: either a 64-byte-aligned copy the model owns, or a caller's buffer
/// borrowed without copying (the caller keeps it alive and unchanged for the model's lifetime).
final class ModelStorage: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer
    private let owned: UnsafeMutableRawPointer?

    init(copying source: UnsafeRawBufferPointer) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(source.count, 1), alignment: WrenFormat.alignment)
        if let base = source.baseAddress, source.count > 0 {
            memory.copyMemory(from: base, byteCount: source.count)
        }
        owned = memory
        bytes = UnsafeRawBufferPointer(start: memory, count: source.count)
    }

    /// Takes ownership of `memory` (allocated with `WrenFormat.alignment`), of which `count` bytes are used.
    init(adopting memory: UnsafeMutableRawPointer, count: Int) {
        owned = memory
        bytes = UnsafeRawBufferPointer(start: memory, count: count)
    }

    init(borrowing source: UnsafeRawBufferPointer) {
        owned = nil
        bytes = source
    }

    var isBorrowed: Bool { owned == nil }

    deinit {
        owned?.deallocate()
    }
}
