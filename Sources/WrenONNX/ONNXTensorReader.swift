import Foundation
import Glibc
import WrenNetwork

/// Reads the values of ONNX `TensorProto`s (initializers and Constant nodes' `value`), checking
/// everything a hostile file could get wrong before touching data:
/// - the data type: FLOAT for weights, INT64 (or INT32) for shapes and axes; anything else is named;
/// - dims: at most 8, none negative, their product overflow-checked and at most `maxBytes / 4`;
/// - the payload: exactly `count × element size` bytes of `raw_data`, or exactly `count` values of
///   `float_data` / `int64_data` / `int32_data`; segments are refused;
/// - external data (`data_location = EXTERNAL`): `location` must be a relative path without `..`
///   that resolves (symbolic links included) inside the model's directory; `offset` and `length`
///   must be whole numbers that fit the file, and `length` must equal the byte count of the dims.
struct ONNXTensorReader {
    let fileName: String
    /// The model's directory, for external data; nil when the model came as bytes only.
    let directory: String?
    let limits: ONNXLimits
    /// Bytes of tensor data read so far (inline and external), checked against `limits.maxBytes`.
    private(set) var bytesRead = 0

    init(fileName: String, directory: String?, limits: ONNXLimits) {
        self.fileName = fileName
        self.directory = directory
        self.limits = limits
    }

    static let float: Int32 = 1, int32: Int32 = 6, int64: Int32 = 7
    static let typeNames: [Int32: String] = [
        0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
        8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64",
        15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2",
        20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1",
    ]
    static func typeName(_ type: Int32) -> String { typeNames[type] ?? "unknown data type \(type)" }

    func bad(_ tensor: Onnx_TensorProto, _ reason: String) -> ONNXImportError {
        .badTensor(file: fileName, tensor: tensor.name, reason: reason)
    }

    /// The element count of `dims`, checked.
    func elementCount(_ tensor: Onnx_TensorProto) throws(ONNXImportError) -> Int {
        guard tensor.dims.count <= 8 else { throw bad(tensor, "has \(tensor.dims.count) dimensions; at most 8 are read") }
        var count = 1
        for dim in tensor.dims {
            guard dim >= 0 else { throw bad(tensor, "has the negative dimension \(dim) (dims \(tensor.dims))") }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
            guard !overflow, product <= limits.maxBytes / 4 else {
                throw .limitExceeded(file: fileName, limit: "maxFileBytes", value: limits.maxBytes,
                                     found: "tensor '\(tensor.name)' has dims \(tensor.dims), over \(limits.maxBytes / 4) elements")
            }
            count = product
        }
        return count
    }

    /// A FLOAT tensor as a `FloatTensor` of the same dims.
    mutating func floatTensor(_ tensor: Onnx_TensorProto) throws(ONNXImportError) -> FloatTensor {
        guard tensor.dataType == Self.float else {
            throw bad(tensor, "has data type \(Self.typeName(tensor.dataType)); WRN weights must be FLOAT (float32)")
        }
        let count = try elementCount(tensor)
        let shape = tensor.dims.map { Int($0) }
        let bytes = try payload(tensor, count: count, elementSize: 4, inline: tensor.floatData.count)
        let values: [Float]
        if let bytes {
            values = (0..<count).map { i in
                let bits = UInt32(bytes[4 * i]) | UInt32(bytes[4 * i + 1]) << 8 | UInt32(bytes[4 * i + 2]) << 16 | UInt32(bytes[4 * i + 3]) << 24
                return Float(bitPattern: bits)
            }
        } else {
            values = tensor.floatData
        }
        return FloatTensor(shape: shape, data: values)
    }

    /// An INT64 or INT32 tensor's values (shapes, axes), at most 16 of them.
    mutating func integers(_ tensor: Onnx_TensorProto) throws(ONNXImportError) -> [Int64] {
        let count = try elementCount(tensor)
        guard count <= 16 else { throw bad(tensor, "has \(count) integers where a shape or axes list (at most 16) belongs") }
        switch tensor.dataType {
        case Self.int64:
            if let bytes = try payload(tensor, count: count, elementSize: 8, inline: tensor.int64Data.count) {
                return (0..<count).map { i in
                    var value: UInt64 = 0
                    for b in 0..<8 { value |= UInt64(bytes[8 * i + b]) << (8 * UInt64(b)) }
                    return Int64(bitPattern: value)
                }
            }
            return tensor.int64Data
        case Self.int32:
            if let bytes = try payload(tensor, count: count, elementSize: 4, inline: tensor.int32Data.count) {
                return (0..<count).map { i in
                    Int64(Int32(bitPattern: UInt32(bytes[4 * i]) | UInt32(bytes[4 * i + 1]) << 8 | UInt32(bytes[4 * i + 2]) << 16 | UInt32(bytes[4 * i + 3]) << 24))
                }
            }
            return tensor.int32Data.map { Int64($0) }
        default:
            throw bad(tensor, "has data type \(Self.typeName(tensor.dataType)); a shape or axes list must be INT64 or INT32")
        }
    }

    /// The tensor's bytes from `raw_data` or external data, or nil when the values are inline in the
    /// typed field (whose count `inline` must then equal `count`).
    private mutating func payload(_ tensor: Onnx_TensorProto, count: Int, elementSize: Int, inline: Int) throws(ONNXImportError) -> [UInt8]? {
        guard !tensor.hasSegment else { throw bad(tensor, "is split into segments, which this importer does not read") }
        let byteCount = count * elementSize  // count ≤ maxBytes / 4 and elementSize ≤ 8: no overflow on 64-bit
        if tensor.dataLocation == .external {
            guard tensor.rawData.isEmpty, inline == 0 else { throw bad(tensor, "is stored externally but also carries inline data") }
            let bytes = try external(tensor, byteCount: byteCount)
            try account(bytes.count, tensor)
            return bytes
        }
        guard tensor.dataLocation == .default else { throw bad(tensor, "has the unknown data_location \(tensor.dataLocation.rawValue)") }
        if !tensor.rawData.isEmpty {
            guard inline == 0 else { throw bad(tensor, "carries both raw_data and typed values") }
            guard tensor.rawData.count == byteCount else {
                throw bad(tensor, "raw_data holds \(tensor.rawData.count) bytes, but dims \(tensor.dims) of \(Self.typeName(tensor.dataType)) need \(byteCount)")
            }
            try account(byteCount, tensor)
            return [UInt8](tensor.rawData)
        }
        guard inline == count else {
            throw bad(tensor, "holds \(inline) values, but dims \(tensor.dims) need \(count)")
        }
        try account(byteCount, tensor)
        return nil
    }

    private mutating func account(_ bytes: Int, _ tensor: Onnx_TensorProto) throws(ONNXImportError) {
        bytesRead += bytes
        guard bytesRead <= limits.maxBytes else {
            throw .limitExceeded(file: fileName, limit: "maxFileBytes", value: limits.maxBytes,
                                 found: "the tensors up to '\(tensor.name)' hold \(bytesRead) bytes")
        }
    }

    /// Reads `byteCount` bytes of external data, confined to the model's directory.
    private func external(_ tensor: Onnx_TensorProto, byteCount: Int) throws(ONNXImportError) -> [UInt8] {
        var location: String?, offsetText: String?, lengthText: String?
        for entry in tensor.externalData {
            switch entry.key {
            case "location":
                guard location == nil else { throw bad(tensor, "names its external data location twice") }
                location = entry.value
            case "offset": offsetText = entry.value
            case "length": lengthText = entry.value
            case "checksum": break  // SHA-1 of the bytes; the importer does not check it
            default: throw bad(tensor, "has the unknown external_data key '\(entry.key)'")
            }
        }
        guard let location, !location.isEmpty else { throw bad(tensor, "is stored externally but names no location") }
        func refuse(_ reason: String) -> ONNXImportError {
            .badExternalData(file: fileName, tensor: tensor.name, location: location, reason: reason)
        }
        guard !location.hasPrefix("/"), !location.contains("\0"), !location.contains("\\") else {
            throw refuse("the location must be a relative path inside the model's directory")
        }
        let components = location.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.contains(where: { $0 == ".." }) else {
            throw refuse("the location leaves the model's directory ('..')")
        }
        guard let directory else {
            throw refuse("the model was given as bytes, without a directory to read external data from")
        }
        func number(_ text: String?, _ what: String) throws(ONNXImportError) -> Int? {
            guard let text else { return nil }
            guard let value = Int(text), value >= 0 else { throw refuse("\(what) '\(text)' is not a whole number of bytes") }
            return value
        }
        let offset = try number(offsetText, "offset") ?? 0
        let length = try number(lengthText, "length")
        if let length, length != byteCount {
            throw refuse("length \(length) does not match dims \(tensor.dims) of \(Self.typeName(tensor.dataType)) (\(byteCount) bytes)")
        }

        // Resolve symbolic links on both sides: the file must really be inside the directory.
        guard let root = Self.realPath(directory) else { throw refuse("the model's directory '\(directory)' cannot be resolved") }
        let joined = root + "/" + components.joined(separator: "/")
        guard let resolved = Self.realPath(joined) else {
            throw refuse("cannot open it: \(String(cString: strerror(errno)))")
        }
        guard resolved.hasPrefix(root == "/" ? "/" : root + "/") else {
            throw refuse("it resolves to '\(resolved)', outside the model's directory")
        }
        let descriptor = open(resolved, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw refuse("cannot open it: \(String(cString: strerror(errno)))") }
        defer { _ = close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            throw refuse("it is not a regular file")
        }
        let size = Int(status.st_size)
        guard size <= limits.maxBytes else {
            throw .limitExceeded(file: fileName, limit: "maxFileBytes", value: limits.maxBytes,
                                 found: "external data file '\(location)' is \(size) bytes")
        }
        let (end, overflow) = offset.addingReportingOverflow(byteCount)
        guard !overflow, end <= size else {
            throw refuse("bytes \(offset)..<\(overflow ? "overflow" : String(end)) run past its end (\(size) bytes)")
        }
        var bytes = [UInt8](repeating: 0, count: byteCount)
        var done = 0
        while done < byteCount {
            let got = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, byteCount - done, off_t(offset + done))
            }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw refuse("reading it failed after \(done) of \(byteCount) bytes") }
            done += got
        }
        return bytes
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
