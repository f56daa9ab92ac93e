/// One named tensor for `SafetensorsWriter`: a row-major shape and its values.
public struct SafetensorsTensor: Equatable, Sendable {
    /// The element type and the values, little-endian on disk.
    public enum Values: Equatable, Sendable {
        case float32([Float])
        case float64([Double])
        /// PyTorch's `num_batches_tracked` (shape `[]`).
        case int64([Int64])
    }

    public var name: String
    public var shape: [Int]
    public var values: Values

    public init(name: String, shape: [Int], values: Values) {
        self.name = name
        self.shape = shape
        self.values = values
    }

    public static func float32(_ name: String, shape: [Int], _ values: [Float]) -> Self {
        Self(name: name, shape: shape, values: .float32(values))
    }

    public static func float64(_ name: String, shape: [Int], _ values: [Double]) -> Self {
        Self(name: name, shape: shape, values: .float64(values))
    }

    public static func int64(_ name: String, shape: [Int], _ values: [Int64]) -> Self {
        Self(name: name, shape: shape, values: .int64(values))
    }

    /// The format's dtype name (a key of `SafetensorsCheckpoint.dtypeSizes`).
    public var dtype: String {
        switch values {
        case .float32: return "F32"
        case .float64: return "F64"
        case .int64: return "I64"
        }
    }

    var valueCount: Int {
        switch values {
        case .float32(let values): return values.count
        case .float64(let values): return values.count
        case .int64(let values): return values.count
        }
    }
}

/// Why `SafetensorsWriter` wrote nothing. Each case names the tensor.
public enum SafetensorsWriteError: Error, Equatable, CustomStringConvertible {
    /// Two tensors with one name (a JSON object cannot hold both).
    case duplicateName(String)
    /// A tensor named `__metadata__`, the key the format reserves for the metadata.
    case reservedName(String)
    /// A negative extent, or an element or byte count that overflows.
    case invalidShape(name: String, shape: [Int])
    /// The shape's element count differs from the number of values given.
    case elementCountMismatch(name: String, shape: [Int], elements: Int, values: Int)
    /// The JSON header would exceed the cap readers enforce.
    case headerTooLarge(length: Int, limit: Int)
    /// Writing the file failed; the destination is untouched.
    case file(AtomicFileError)

    public var description: String {
        switch self {
        case .duplicateName(let name):
            return "cannot write two tensors named '\(name)' into one safetensors file"
        case .reservedName(let name):
            return "a tensor cannot be named '\(name)': safetensors reserves that key for the metadata"
        case .invalidShape(let name, let shape):
            return "tensor '\(name)' has shape \(shape), whose extents are negative or whose size overflows"
        case .elementCountMismatch(let name, let shape, let elements, let values):
            return "tensor '\(name)': shape \(shape) has \(elements) elements but \(values) values were given"
        case .headerTooLarge(let length, let limit):
            return "the safetensors header would be \(length) bytes, over the \(limit)-byte limit readers enforce"
        case .file(let error):
            return error.description
        }
    }
}

/// Writes `.safetensors` files in the layout `SafetensorsCheckpoint` documents and reads, the way
/// the reference implementation writes them (`safetensors/src/tensor.rs`, `serialize`): the
/// 8-byte little-endian header length, then the JSON header — `__metadata__` first when there is
/// metadata, then each tensor as `{"dtype","shape","data_offsets"}` in the order given, no
/// whitespace, strings escaped as serde_json escapes them — padded with spaces to a multiple of 8
/// bytes, then the tensors' bytes back to back in that same order, so the offsets start at 0 and
/// tile the data exactly. Files it writes pass every rule the reader enforces; for the same tensors
/// in the same order and at most one metadata entry (Rust keeps metadata in a hash map; this
/// writer sorts the keys) the bytes are identical to `safetensors.torch.save_file`'s.
public enum SafetensorsWriter {
    /// The header is padded with spaces to a multiple of this, so the data that follows starts
    /// 8-byte aligned in a file mapped at an aligned address.
    static let headerAlignment = 8

    /// The complete file. Metadata keys are written sorted (an empty map writes no `__metadata__`).
    public static func encode(_ tensors: [SafetensorsTensor], metadata: [String: String] = [:]) throws(SafetensorsWriteError) -> [UInt8] {
        try encode(tensors, metadata: metadata, maxHeaderLength: SafetensorsCheckpoint.maxHeaderLength)
    }

    /// Encodes and writes atomically (a temporary file beside `path`, fsynced, renamed over it);
    /// refuses to replace any of `inputs`.
    public static func write(_ tensors: [SafetensorsTensor], metadata: [String: String] = [:], to path: String, refusingToOverwrite inputs: [String] = []) throws(SafetensorsWriteError) {
        let bytes = try encode(tensors, metadata: metadata)
        do throws(AtomicFileError) {
            try AtomicFile.write(bytes, to: path, refusingToOverwrite: inputs)
        } catch {
            throw .file(error)
        }
    }

    static func encode(_ tensors: [SafetensorsTensor], metadata: [String: String], maxHeaderLength: Int) throws(SafetensorsWriteError) -> [UInt8] {
        var header: [UInt8] = []
        func append(_ text: String) { header.append(contentsOf: text.utf8) }
        append("{")
        if !metadata.isEmpty {
            appendJSONString(SafetensorsCheckpoint.metadataKey, to: &header)
            append(":{")
            for (index, key) in metadata.keys.sorted().enumerated() {
                if index > 0 { append(",") }
                appendJSONString(key, to: &header)
                append(":")
                appendJSONString(metadata[key]!, to: &header)
            }
            append("}")
        }

        var names = Set<String>()
        var offset = 0
        var ranges: [Range<Int>] = []
        for tensor in tensors {
            guard tensor.name != SafetensorsCheckpoint.metadataKey else { throw .reservedName(tensor.name) }
            guard names.insert(tensor.name).inserted else { throw .duplicateName(tensor.name) }
            guard let size = SafetensorsCheckpoint.dtypeSizes[tensor.dtype] else {
                preconditionFailure("SafetensorsTensor.dtype '\(tensor.dtype)' is not in SafetensorsCheckpoint.dtypeSizes")
            }
            var elements = 1
            for extent in tensor.shape {
                guard extent >= 0 else { throw .invalidShape(name: tensor.name, shape: tensor.shape) }
                let (product, overflow) = elements.multipliedReportingOverflow(by: extent)
                guard !overflow else { throw .invalidShape(name: tensor.name, shape: tensor.shape) }
                elements = product
            }
            guard elements == tensor.valueCount else {
                throw .elementCountMismatch(name: tensor.name, shape: tensor.shape, elements: elements, values: tensor.valueCount)
            }
            let (byteCount, overflow1) = elements.multipliedReportingOverflow(by: size)
            let (end, overflow2) = offset.addingReportingOverflow(byteCount)
            guard !overflow1, !overflow2 else { throw .invalidShape(name: tensor.name, shape: tensor.shape) }

            if header.count > 1 { append(",") }
            appendJSONString(tensor.name, to: &header)
            append(":{\"dtype\":")
            appendJSONString(tensor.dtype, to: &header)
            append(",\"shape\":[" + tensor.shape.map(String.init).joined(separator: ",") + "]")
            append(",\"data_offsets\":[\(offset),\(end)]}")
            ranges.append(offset..<end)
            offset = end
        }
        append("}")
        let padding = (headerAlignment - header.count % headerAlignment) % headerAlignment
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
        guard header.count <= maxHeaderLength else { throw .headerTooLarge(length: header.count, limit: maxHeaderLength) }

        let lengthSize = SafetensorsCheckpoint.lengthFieldSize
        let dataStart = lengthSize + header.count
        var file = [UInt8](repeating: 0, count: dataStart + offset)
        file.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(header.count).littleEndian, toByteOffset: 0, as: UInt64.self)
            header.withUnsafeBytes { raw.baseAddress!.advanced(by: lengthSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            for (tensor, range) in zip(tensors, ranges) where !range.isEmpty {
                let destination = UnsafeMutableRawBufferPointer(rebasing: raw[(dataStart + range.lowerBound)..<(dataStart + range.upperBound)])
                switch tensor.values {
                case .float32(let values): storeLittleEndian(values, into: destination, bits: \.bitPattern)
                case .float64(let values): storeLittleEndian(values, into: destination, bits: \.bitPattern)
                case .int64(let values): storeLittleEndian(values, into: destination, bits: { $0 })
                }
            }
        }
        return file
    }

    /// Copies `values` as their little-endian bit patterns (a plain copy on little-endian hosts).
    private static func storeLittleEndian<T, Bits: FixedWidthInteger>(_ values: [T], into destination: UnsafeMutableRawBufferPointer, bits: (T) -> Bits) {
        precondition(MemoryLayout<T>.size == MemoryLayout<Bits>.size && destination.count == values.count * MemoryLayout<Bits>.size)
        #if _endian(little)
        values.withUnsafeBytes { destination.copyMemory(from: $0) }
        #else
        for (index, value) in values.enumerated() {
            destination.storeBytes(of: bits(value).littleEndian, toByteOffset: index * MemoryLayout<Bits>.size, as: Bits.self)
        }
        #endif
    }

    /// A JSON string as serde_json writes it: `"` and `\` escaped, the control characters below
    /// U+0020 as `\b \t \n \f \r` or `\u00xx` (lowercase hex), everything else as UTF-8.
    static func appendJSONString(_ text: String, to bytes: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x00..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
