import WrenNetwork

/// Reads a `.safetensors` file (huggingface/safetensors):
///
///     u64 little-endian N | N bytes of UTF-8 JSON header | data
///     header = {"__metadata__": {str: str}?, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
///
/// Offsets are relative to the start of the data. The format's rules are enforced as its reference
/// implementation (`safetensors/src/tensor.rs`) does: the header is at most 100 MB and starts with
/// `{`; sorted by offset, the tensors tile the data exactly — the first begins at 0, each begins where
/// the previous ended (no gap, no overlap) and spans exactly `elements × dtype size` bytes, and the
/// last ends at the end of the file. All values are little-endian and row-major. Nothing in the
/// file is executed. Keys lose a DataParallel `module.` prefix; files with Paddle names (`_mean`,
/// `_variance`, or `__metadata__.format == "paddle"`) are mapped by `PaddleNaming`.
enum SafetensorsCheckpoint {
    static let maxHeaderLength = 100_000_000
    /// Bytes of the little-endian header length that opens the file.
    static let lengthFieldSize = 8
    /// The header key holding the string-to-string metadata instead of a tensor.
    static let metadataKey = "__metadata__"

    struct Entry {
        var key: String
        var dtype: String
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    /// Bytes per element of the dtypes the format defines with a whole-byte size.
    static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
        "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4,
        "I64": 8, "U64": 8, "F64": 8,
    ]
    static let convertedDTypes: Set<String> = ["F16", "BF16", "F32", "F64"]
    static let skippedDTypes: Set<String> = ["BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64"]

    /// True when the bytes look like a safetensors file: a header length, then `{`.
    static func looksLikeSafetensors(_ head: [UInt8]) -> Bool {
        head.count > lengthFieldSize && head[lengthFieldSize] == UInt8(ascii: "{")
    }

    /// The validated layout and metadata of the file, without converting any tensor.
    static func readHeader(
        _ bytes: [UInt8], fileName: String, limits: ImportLimits = .default
    ) throws(SafetensorsError) -> (entries: [Entry], metadata: [String: String], dataStart: Int) {
        guard bytes.count >= lengthFieldSize else { throw .tooShort(file: fileName, size: bytes.count) }
        var length: UInt64 = 0
        for index in (0..<lengthFieldSize).reversed() { length = length << 8 | UInt64(bytes[index]) }
        guard length <= UInt64(maxHeaderLength) else { throw .headerTooLarge(file: fileName, length: length, limit: maxHeaderLength) }
        guard length <= UInt64(bytes.count - lengthFieldSize) else { throw .headerPastEnd(file: fileName, length: length, fileSize: bytes.count) }
        let dataStart = lengthFieldSize + Int(length)
        let header = Array(bytes[lengthFieldSize..<dataStart])
        guard String(validating: header, as: UTF8.self) != nil else { throw .headerNotUTF8(file: fileName) }
        guard header.first == UInt8(ascii: "{") else {
            throw .invalidHeader(file: fileName, offset: 0, reason: "the header must start with '{'")
        }
        let root: StrictJSON.Value
        do throws(StrictJSON.ParseError) {
            root = try StrictJSON.parse(header, maxValues: limits.maxParsedValues)
        } catch {
            if error.exceedsValueLimit {
                throw .limitExceeded(
                    file: fileName, limit: .maxParsedValues, value: limits.maxParsedValues,
                    found: "the safetensors header holds more than \(limits.maxParsedValues) JSON values (header byte \(error.offset))")
            }
            throw .invalidHeader(file: fileName, offset: error.offset, reason: error.reason)
        }
        guard case .object(let members) = root else {
            throw .invalidHeader(file: fileName, offset: 0, reason: "the header is \(root.kind), not an object")
        }

        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for member in members {
            if member.key == metadataKey {
                guard case .object(let fields) = member.value else {
                    throw .invalidMetadata(file: fileName, reason: "is \(member.value.kind), expected an object of strings")
                }
                for field in fields {
                    guard case .string(let text) = field.value else {
                        throw .invalidMetadata(file: fileName, reason: "entry '\(field.key)' is \(field.value.kind), expected a string")
                    }
                    metadata[field.key] = text
                }
                continue
            }
            entries.append(try entry(member, fileName: fileName))
        }

        // The layout rules, checked in offset order.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for entry in entries {
            guard entry.begin == expected else {
                throw .nonContiguousOffsets(file: fileName, key: entry.key, begin: entry.begin, expected: expected)
            }
            guard let size = dtypeSizes[entry.dtype] else {
                throw .unsupportedDType(file: fileName, key: entry.key, dtype: entry.dtype)
            }
            var count = 1
            for extent in entry.shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: extent)
                guard !overflow else { throw .sizeOverflow(file: fileName, key: entry.key) }
                count = product
            }
            let (byteCount, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw .sizeOverflow(file: fileName, key: entry.key) }
            guard entry.end - entry.begin == byteCount else {
                throw .sizeMismatch(file: fileName, key: entry.key, expectedBytes: byteCount, rangeBytes: entry.end - entry.begin)
            }
            expected = entry.end
        }
        guard expected == bytes.count - dataStart else {
            throw .dataLengthMismatch(file: fileName, tensorBytes: expected, dataBytes: bytes.count - dataStart)
        }
        return (entries, metadata, dataStart)
    }

    /// One `"name": {"dtype", "shape", "data_offsets"}` member, its fields type-checked.
    private static func entry(_ member: StrictJSON.Member, fileName: String) throws(SafetensorsError) -> Entry {
        let key = member.key
        guard case .object = member.value else {
            throw .invalidEntry(file: fileName, key: key, reason: "is \(member.value.kind), expected {dtype, shape, data_offsets}")
        }
        guard case .string(let dtype)? = member.value["dtype"] else {
            throw .invalidEntry(file: fileName, key: key, reason: "'dtype' is missing or not a string")
        }
        guard case .array(let shapeItems)? = member.value["shape"] else {
            throw .invalidEntry(file: fileName, key: key, reason: "'shape' is missing or not an array")
        }
        var shape: [Int] = []
        for item in shapeItems {
            guard case .integer(let extent) = item, extent >= 0, let value = Int(exactly: extent) else {
                throw .invalidEntry(file: fileName, key: key, reason: "shape entry is not a non-negative integer")
            }
            shape.append(value)
        }
        guard case .array(let offsets)? = member.value["data_offsets"], offsets.count == 2,
              case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1],
              begin >= 0, end >= begin, let beginValue = Int(exactly: begin), let endValue = Int(exactly: end) else {
            throw .invalidEntry(file: fileName, key: key, reason: "'data_offsets' must be [begin, end] with 0 ≤ begin ≤ end")
        }
        return Entry(key: key, dtype: dtype, shape: shape, begin: beginValue, end: endValue)
    }

    /// The floating-point tensors, keyed by canonical PyTorch names. Integer and bool tensors
    /// (`num_batches_tracked`) are left out; FP8 tensors are refused rather than silently dropped.
    static func floatTensors(
        _ bytes: [UInt8], fileName: String, limits: ImportLimits = .default
    ) throws(SafetensorsError) -> [String: FloatTensor] {
        try floatTensorsAndMetadata(bytes, fileName: fileName, limits: limits).tensors
    }

    /// The floating-point tensors and the `__metadata__`, from one reading of the header.
    static func floatTensorsAndMetadata(
        _ bytes: [UInt8], fileName: String, limits: ImportLimits = .default
    ) throws(SafetensorsError) -> (tensors: [String: FloatTensor], metadata: [String: String]) {
        let (entries, metadata, dataStart) = try readHeader(bytes, fileName: fileName, limits: limits)
        var collected: [(key: String, tensor: FloatTensor)] = []
        for entry in entries {
            if skippedDTypes.contains(entry.dtype) { continue }
            guard convertedDTypes.contains(entry.dtype) else {
                throw .unsupportedDType(file: fileName, key: entry.key, dtype: entry.dtype)
            }
            let count = entry.shape.reduce(1, *)
            var values = [Float](repeating: 0, count: count)
            let start = dataStart + entry.begin
            bytes.withUnsafeBytes { raw in
                switch entry.dtype {
                case "F32":
                    for index in 0..<count {
                        values[index] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * index, as: UInt32.self)))
                    }
                case "F64":
                    for index in 0..<count {
                        values[index] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: start + 8 * index, as: UInt64.self))))
                    }
                case "F16":
                    for index in 0..<count {
                        values[index] = TorchStorageType.floatFromHalf(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: start + 2 * index, as: UInt16.self)))
                    }
                default:  // BF16: the top half of a float32
                    for index in 0..<count {
                        let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: start + 2 * index, as: UInt16.self))
                        values[index] = Float(bitPattern: UInt32(bits) << 16)
                    }
                }
            }
            let key = entry.key.hasPrefix("module.") ? String(entry.key.dropFirst("module.".count)) : entry.key
            collected.append((key, FloatTensor(shape: entry.shape, data: values)))
        }
        if metadata["format"] == "paddle" || PaddleNaming.looksLikePaddle(collected.map(\.key)) {
            do throws(ImportError) {
                return (try PaddleNaming.canonicalize(collected), metadata)
            } catch {
                if case .duplicateKey(let name) = error { throw .duplicateName(file: fileName, name: name) }
                throw .duplicateName(file: fileName, name: "\(error)")
            }
        }
        var tensors: [String: FloatTensor] = [:]
        for (key, tensor) in collected {
            guard tensors[key] == nil else { throw .duplicateName(file: fileName, name: key) }
            tensors[key] = tensor
        }
        return (tensors, metadata)
    }
}
