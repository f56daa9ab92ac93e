/// Why a `.safetensors` file was refused. Every case names the file, and the tensor or the byte
/// offset (inside the JSON header) where the problem is.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    /// Fewer than the 8 bytes of the header length.
    case tooShort(file: String, size: Int)
    /// The header length exceeds the format's cap (100 MB, as the reference implementation).
    case headerTooLarge(file: String, length: UInt64, limit: Int)
    /// The header length runs past the end of the file.
    case headerPastEnd(file: String, length: UInt64, fileSize: Int)
    /// The header is not valid UTF-8.
    case headerNotUTF8(file: String)
    /// The header is not a JSON object (`offset` is a byte offset inside the header).
    case invalidHeader(file: String, offset: Int, reason: String)
    /// `__metadata__` is not an object of strings.
    case invalidMetadata(file: String, reason: String)
    /// A tensor entry lacks `dtype`, `shape` or `data_offsets`, or one has the wrong form.
    case invalidEntry(file: String, key: String, reason: String)
    /// A dtype Wren does not know.
    case unsupportedDType(file: String, key: String, dtype: String)
    /// Sorted by offset, this tensor does not begin where the previous one ended (a gap or an overlap).
    case nonContiguousOffsets(file: String, key: String, begin: Int, expected: Int)
    /// The tensor's byte range is not exactly `elements × dtype size`.
    case sizeMismatch(file: String, key: String, expectedBytes: Int, rangeBytes: Int)
    /// The shape's element or byte count overflows.
    case sizeOverflow(file: String, key: String)
    /// The tensors do not end exactly at the end of the file.
    case dataLengthMismatch(file: String, tensorBytes: Int, dataBytes: Int)
    /// Two keys become one canonical name (after removing `module.` or mapping Paddle names).
    case duplicateName(file: String, name: String)
    /// The file would make the importer hold more than `ImportLimits` allows.
    case limitExceeded(file: String, limit: ImportLimits.Name, value: Int, found: String)

    public var description: String {
        switch self {
        case .tooShort(let file, let size):
            return "'\(file)': \(size) bytes is too short for a safetensors file (8-byte header length first)"
        case .headerTooLarge(let file, let length, let limit):
            return "'\(file)': safetensors header length \(length) exceeds the \(limit)-byte limit"
        case .headerPastEnd(let file, let length, let fileSize):
            return "'\(file)': safetensors header length \(length) runs past the end of the \(fileSize)-byte file"
        case .headerNotUTF8(let file):
            return "'\(file)': safetensors header is not valid UTF-8"
        case .invalidHeader(let file, let offset, let reason):
            return "'\(file)': safetensors header is not a valid JSON object at header byte \(offset): \(reason)"
        case .invalidMetadata(let file, let reason):
            return "'\(file)': safetensors __metadata__ \(reason)"
        case .invalidEntry(let file, let key, let reason):
            return "'\(file)': tensor '\(key)': \(reason)"
        case .unsupportedDType(let file, let key, let dtype):
            return "'\(file)': tensor '\(key)' has dtype '\(dtype)', which Wren does not read"
        case .nonContiguousOffsets(let file, let key, let begin, let expected):
            return "'\(file)': tensor '\(key)' begins at data byte \(begin), expected \(expected): tensor data must be contiguous and non-overlapping"
        case .sizeMismatch(let file, let key, let expectedBytes, let rangeBytes):
            return "'\(file)': tensor '\(key)' spans \(rangeBytes) bytes, its shape and dtype need \(expectedBytes)"
        case .sizeOverflow(let file, let key):
            return "'\(file)': tensor '\(key)' has a shape whose size overflows"
        case .dataLengthMismatch(let file, let tensorBytes, let dataBytes):
            return "'\(file)': tensors cover \(tensorBytes) data bytes but the file holds \(dataBytes) after the header"
        case .limitExceeded(let file, let limit, let value, let found):
            return "'\(file)': \(found), more than a checkpoint may hold: \(ImportLimits.advice(limit, value))"
        case .duplicateName(let file, let name):
            return "'\(file)': two tensors are both named '\(name)' once prefixes and Paddle names are mapped"
        }
    }
}
