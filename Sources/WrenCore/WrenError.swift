/// Every failure `WrenCore` reports: one closed enum, so it works with typed throws in Embedded Swift.
/// Each case names the field or value at fault and, for file problems, the byte offset.
public enum WrenError: Error, Equatable, CustomStringConvertible {
    /// The bytes do not start with the `.wren` magic.
    case badMagic
    /// The file's major version is not one this reader implements.
    case unsupportedVersion(major: Int, minor: Int, supportedMajor: Int)
    /// A field or range needs more bytes than the file has.
    case truncated(field: String, offset: Int, needed: Int, available: Int)
    /// A field holds a value the format does not allow.
    case invalidField(field: String, offset: Int, reason: String)
    /// The stored CRC-32 does not match the bytes.
    case checksumMismatch(stored: UInt32, computed: UInt32)
    /// The caller's input does not fit the model.
    case invalidInput(String)
    /// A batch larger than the context was planned for.
    case batchTooLarge(batch: Int, maxBatch: Int)
    /// The arena a context would allocate for `maxBatch` exceeds `limit` (`bytes` is `Int.max`
    /// when the size does not even fit in an `Int`).
    case arenaTooLarge(bytes: Int, limit: Int, maxBatch: Int)
    /// The system refused memory for the context's arena.
    case outOfMemory(bytes: Int)
    /// `run` was called while another thread was running the same context.
    case contextBusy

    public var description: String {
        switch self {
        case .badMagic:
            return "not a .wren file (bad magic)"
        case .unsupportedVersion(let major, let minor, let supported):
            return "unsupported .wren version \(major).\(minor): this reader implements major versions 1 to \(supported)"
        case .truncated(let field, let offset, let needed, let available):
            return "truncated file: \(field) at offset \(offset) needs \(needed) bytes, \(available) available"
        case .invalidField(let field, let offset, let reason):
            return "invalid \(field) at offset \(offset): \(reason)"
        case .checksumMismatch(let stored, let computed):
            return "checksum mismatch: stored \(hex(stored)), computed \(hex(computed)) (file corrupted)"
        case .invalidInput(let why):
            return "invalid input: \(why)"
        case .batchTooLarge(let batch, let maxBatch):
            return "batch \(batch) exceeds the context's maximum batch \(maxBatch)"
        case .arenaTooLarge(let bytes, let limit, let maxBatch):
            if bytes == Int.max { return "the arena for maximum batch \(maxBatch) needs more bytes than this machine can address" }
            return "the arena for maximum batch \(maxBatch) needs \(bytes) bytes, over the limit of \(limit) bytes"
        case .outOfMemory(let bytes):
            return "cannot allocate \(bytes) bytes for the arena"
        case .contextBusy:
            return "the context is already running on another thread (use one context per thread)"
        }
    }
}

private func hex(_ value: UInt32) -> String {
    let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
    var text = "0x"
    for shift in stride(from: 28, through: 0, by: -4) {
        text.append(digits[Int((value >> UInt32(shift)) & 0xF)])
    }
    return text
}
