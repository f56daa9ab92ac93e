// NumPy `.npy` files (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
//
//   offset 0   6 bytes   magic "\x93NUMPY"
//          6   1 byte    major version (1, 2 or 3)
//          7   1 byte    minor version (0)
//          8   2 bytes   header length H, little-endian (version 1)
//              4 bytes   header length H, little-endian (versions 2 and 3)
//   10 or 12   H bytes   a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//                        padded with spaces and a final newline (latin-1 in v1/v2, UTF-8 in v3)
//   then                 the elements, exactly product(shape) * itemsize bytes
//
// The reader trusts nothing: the header length is checked against the bytes present and capped,
// the dict must hold exactly the three keys, the shape product and byte count are computed with
// overflow checks, and the data must have exactly the announced length.

import WrenFiles

/// The element types Wren reads and writes: little-endian, as numpy writes them on x86 and ARM.
public enum NumpyDType: String, Sendable, CaseIterable {
    case float32 = "<f4"
    case float64 = "<f8"
    case int64 = "<i8"
    case int32 = "<i4"
    case uint8 = "|u1"
    case int8 = "|i1"

    /// The `descr` string numpy writes for this type.
    public var descr: String { rawValue }

    public var itemSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .uint8, .int8: return 1
        }
    }

    /// Accepts numpy's spellings; byte order is irrelevant for one-byte types.
    init?(descr: String) {
        switch descr {
        case "<f4": self = .float32
        case "<f8": self = .float64
        case "<i8": self = .int64
        case "<i4": self = .int32
        case "|u1", "<u1", ">u1", "=u1": self = .uint8
        case "|i1", "<i1", ">i1", "=i1": self = .int8
        default: return nil
        }
    }
}

/// Why a `.npy` file could not be read or written. `source` is the path, or `"<memory>"`.
public enum NumpyError: Error, Equatable, CustomStringConvertible {
    case unreadableFile(path: String, reason: String)
    /// The file does not start with "\x93NUMPY".
    case notNumpyFile(source: String)
    case unsupportedVersion(source: String, major: UInt8, minor: UInt8)
    /// The file ends before the `what` that starts at `offset` and needs `needed` bytes.
    case truncated(source: String, what: String, offset: Int, needed: Int, available: Int)
    case headerTooLong(source: String, length: Int, limit: Int)
    /// The header dict is malformed; `offset` is the file offset of the problem.
    case invalidHeader(source: String, offset: Int, reason: String)
    case unsupportedDType(source: String, descr: String)
    /// Fortran (column-major) order; re-save with `np.ascontiguousarray`.
    case fortranOrder(source: String)
    /// The shape's element count or byte count does not fit in Int.
    case shapeOverflow(source: String, shape: [Int])
    /// The data after the header is not exactly `expected` bytes.
    case dataLengthMismatch(source: String, expected: Int, found: Int)
    /// A shape whose element count differs from the values given.
    case elementCountMismatch(shape: [Int], dtype: NumpyDType, byteCount: Int)
    /// `floats()` / `int64s()` cannot represent this dtype exactly (or at all).
    case unsupportedConversion(from: NumpyDType, to: String)
    /// A float64 value too large for Float.
    case valueOutOfRange(index: Int, value: Double)
    case cannotWrite(AtomicFileError)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read '\(path)': \(reason)"
        case .notNumpyFile(let source):
            return "'\(source)' is not a .npy file (missing the \\x93NUMPY magic)"
        case .unsupportedVersion(let source, let major, let minor):
            return "'\(source)': .npy format version \(major).\(minor) is not supported (1.0, 2.0, 3.0 are)"
        case .truncated(let source, let what, let offset, let needed, let available):
            return "'\(source)' is truncated: \(what) at offset \(offset) needs \(needed) bytes, \(available) remain"
        case .headerTooLong(let source, let length, let limit):
            return "'\(source)': header of \(length) bytes exceeds the \(limit)-byte limit"
        case .invalidHeader(let source, let offset, let reason):
            return "'\(source)': invalid header at offset \(offset): \(reason)"
        case .unsupportedDType(let source, let descr):
            return "'\(source)': dtype '\(descr)' is not supported (little-endian f4, f8, i8, i4, u1, i1 are)"
        case .fortranOrder(let source):
            return "'\(source)' is in Fortran order; save it with np.ascontiguousarray(...) first"
        case .shapeOverflow(let source, let shape):
            return "'\(source)': shape \(shape) is too large"
        case .dataLengthMismatch(let source, let expected, let found):
            let kind = found < expected ? "truncated" : "has trailing bytes"
            return "'\(source)' \(kind): the shape needs \(expected) data bytes, the file has \(found)"
        case .elementCountMismatch(let shape, let dtype, let byteCount):
            return "shape \(shape) of \(dtype.descr) does not match \(byteCount) bytes of data"
        case .unsupportedConversion(let from, let to):
            return "cannot convert \(from.descr) elements to \(to) exactly"
        case .valueOutOfRange(let index, let value):
            return "element \(index) (\(value)) does not fit in float32"
        case .cannotWrite(let error):
            return error.description
        }
    }
}

/// An n-dimensional array as stored in a `.npy` file: C order, little-endian element bytes.
public struct NumpyArray: Sendable, Equatable {
    public var shape: [Int]
    public var dtype: NumpyDType
    /// The elements, C order, little-endian; `elementCount * dtype.itemSize` bytes.
    public var bytes: [UInt8]

    /// numpy's own read limit (`numpy.lib.format._MAX_HEADER_SIZE`).
    public static let maxHeaderLength = 10_000
    /// numpy's `NPY_MAXDIMS`.
    public static let maxDimensions = 64

    public init(shape: [Int], dtype: NumpyDType, bytes: [UInt8]) throws(NumpyError) {
        guard let count = Self.byteCount(shape: shape, dtype: dtype), count == bytes.count else {
            throw .elementCountMismatch(shape: shape, dtype: dtype, byteCount: bytes.count)
        }
        self.shape = shape
        self.dtype = dtype
        self.bytes = bytes
    }

    public init(floats: [Float], shape: [Int]) throws(NumpyError) {
        var bytes = [UInt8]()
        bytes.reserveCapacity(floats.count * 4)
        for value in floats {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        try self.init(shape: shape, dtype: .float32, bytes: bytes)
    }

    /// Product of `shape` (1 for a scalar); nil on overflow or a negative dimension.
    public var elementCount: Int? { Self.elementCount(shape) }

    // MARK: Element access

    /// The elements as Float: exact for f4, u1, i1; f8 is rounded to nearest (finite values
    /// beyond Float's range are an error). i4/i8 are refused (not exact above 2^24): use `int64s()`.
    public func floats() throws(NumpyError) -> [Float] {
        let count = try checkedCount()
        switch dtype {
        case .float32:
            return bytes.withUnsafeBytes { raw in
                (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
            }
        case .float64:
            let wide = try doubles()
            var result = [Float]()
            result.reserveCapacity(count)
            for (index, value) in wide.enumerated() {
                let narrowed = Float(value)
                if value.isFinite && !narrowed.isFinite { throw .valueOutOfRange(index: index, value: value) }
                result.append(narrowed)
            }
            return result
        case .uint8:
            return bytes.map { Float($0) }
        case .int8:
            return bytes.map { Float(Int8(bitPattern: $0)) }
        case .int32, .int64:
            throw .unsupportedConversion(from: dtype, to: "float32")
        }
    }

    /// The elements as Double: exact for f8, f4, i4, u1, i1; i8 is refused (not exact above 2^53).
    public func doubles() throws(NumpyError) -> [Double] {
        let count = try checkedCount()
        switch dtype {
        case .float64:
            return bytes.withUnsafeBytes { raw in
                (0..<count).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))) }
            }
        case .float32, .uint8, .int8:
            return try floats().map(Double.init)
        case .int32:
            return try int64s().map(Double.init)
        case .int64:
            throw .unsupportedConversion(from: dtype, to: "float64")
        }
    }

    /// The elements as Int64: exact for i8, i4, u1, i1; float types are refused.
    public func int64s() throws(NumpyError) -> [Int64] {
        let count = try checkedCount()
        switch dtype {
        case .int64:
            return bytes.withUnsafeBytes { raw in
                (0..<count).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
            }
        case .int32:
            return bytes.withUnsafeBytes { raw in
                (0..<count).map { Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            }
        case .uint8:
            return bytes.map { Int64($0) }
        case .int8:
            return bytes.map { Int64(Int8(bitPattern: $0)) }
        case .float32, .float64:
            throw .unsupportedConversion(from: dtype, to: "int64")
        }
    }

    private func checkedCount() throws(NumpyError) -> Int {
        guard let count = elementCount, Self.byteCount(shape: shape, dtype: dtype) == bytes.count else {
            throw .elementCountMismatch(shape: shape, dtype: dtype, byteCount: bytes.count)
        }
        return count
    }

    // MARK: Reading

    public static func read(path: String) throws(NumpyError) -> NumpyArray {
        let file: [UInt8]
        do {
            file = try FileBytes.read(path: path)
        } catch {
            throw .unreadableFile(path: path, reason: error.reason)
        }
        return try parse(file, source: path)
    }

    public static func parse(_ bytes: [UInt8], source: String = "<memory>") throws(NumpyError) -> NumpyArray {
        // withUnsafeBytes is untyped `rethrows`: carry the typed error out in a Result.
        let result = bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            Result { () throws(NumpyError) in try parse(raw, source: source) }
        }
        return try result.get()
    }

    static func parse(_ file: UnsafeRawBufferPointer, source: String) throws(NumpyError) -> NumpyArray {
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
        guard file.count >= 8 else {
            if file.count < 6 || !file.prefix(6).elementsEqual(magic) { throw .notNumpyFile(source: source) }
            throw .truncated(source: source, what: "version", offset: 6, needed: 2, available: file.count - 6)
        }
        guard file.prefix(6).elementsEqual(magic) else { throw .notNumpyFile(source: source) }
        let major = file[6]
        let minor = file[7]
        guard (1...3).contains(major), minor == 0 else {
            throw .unsupportedVersion(source: source, major: major, minor: minor)
        }
        let lengthSize = major == 1 ? 2 : 4
        guard file.count - 8 >= lengthSize else {
            throw .truncated(source: source, what: "header length", offset: 8, needed: lengthSize, available: file.count - 8)
        }
        var headerLength = 0
        for index in 0..<lengthSize { headerLength |= Int(file[8 + index]) << (8 * index) }
        let headerStart = 8 + lengthSize
        guard headerLength <= maxHeaderLength else {
            throw .headerTooLong(source: source, length: headerLength, limit: maxHeaderLength)
        }
        guard file.count - headerStart >= headerLength else {
            throw .truncated(source: source, what: "header", offset: headerStart, needed: headerLength, available: file.count - headerStart)
        }
        let header = NumpyHeaderParser(
            text: Array(file[headerStart..<(headerStart + headerLength)]), fileOffset: headerStart, source: source)
        let fields = try header.parse()

        guard let dtype = NumpyDType(descr: fields.descr) else {
            throw .unsupportedDType(source: source, descr: fields.descr)
        }
        guard !fields.fortranOrder else { throw .fortranOrder(source: source) }
        guard let expected = byteCount(shape: fields.shape, dtype: dtype) else {
            throw .shapeOverflow(source: source, shape: fields.shape)
        }
        let dataStart = headerStart + headerLength
        let available = file.count - dataStart
        guard available == expected else {
            throw .dataLengthMismatch(source: source, expected: expected, found: available)
        }
        return try NumpyArray(shape: fields.shape, dtype: dtype, bytes: Array(file[dataStart...]))
    }

    // MARK: Writing

    /// The file bytes numpy's `np.save` writes for this array: version 1.0 (2.0 if the header
    /// needs more than 65535 bytes), numpy's header spelling and padding, so the output is
    /// byte-identical to numpy's.
    public func encoded() throws(NumpyError) -> [UInt8] {
        _ = try checkedCount()
        let shapeText: String
        switch shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(shape[0]),)"
        default: shapeText = "(" + shape.map(String.init).joined(separator: ", ") + ")"
        }
        var dict = "{'descr': '\(dtype.descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        // numpy leaves room to grow the first axis in place (GROWTH_AXIS_MAX_DIGITS = 21).
        if let first = shape.first { dict += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        let headerBytes = Array(dict.utf8)
        var lengthSize = 2
        var padding = 64 - (8 + lengthSize + headerBytes.count + 1) % 64
        if headerBytes.count + 1 + padding > 0xFFFF {
            lengthSize = 4
            padding = 64 - (8 + lengthSize + headerBytes.count + 1) % 64
        }
        let headerLength = headerBytes.count + padding + 1
        var file: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, lengthSize == 2 ? 1 : 2, 0]
        for index in 0..<lengthSize { file.append(UInt8(truncatingIfNeeded: headerLength >> (8 * index))) }
        file += headerBytes
        file += [UInt8](repeating: 0x20, count: padding)
        file.append(0x0A)
        file += bytes
        return file
    }

    /// Writes this array to `path` atomically (see `AtomicFile`).
    public func write(to path: String, refusingToOverwrite inputs: [String] = []) throws(NumpyError) {
        let file = try encoded()
        do {
            try AtomicFile.write(file, to: path, refusingToOverwrite: inputs)
        } catch {
            throw .cannotWrite(error)
        }
    }

    /// Writes float32 values with `shape` to `path` atomically.
    public static func write(floats: [Float], shape: [Int], to path: String, refusingToOverwrite inputs: [String] = []) throws(NumpyError) {
        try NumpyArray(floats: floats, shape: shape).write(to: path, refusingToOverwrite: inputs)
    }

    // MARK: Helpers

    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            count = product
        }
        return count
    }

    static func byteCount(shape: [Int], dtype: NumpyDType) -> Int? {
        guard let count = elementCount(shape) else { return nil }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.itemSize)
        return overflow ? nil : bytes
    }
}

/// Parses the header dict numpy writes: `{'descr': <str>, 'fortran_order': <bool>, 'shape': <tuple of ints>}`.
/// Only this literal grammar is accepted (no escapes, no expressions); every error names its file offset.
struct NumpyHeaderParser {
    struct Fields {
        var descr: String
        var fortranOrder: Bool
        var shape: [Int]
    }

    private enum Value {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    let text: [UInt8]
    let fileOffset: Int
    let source: String
    private var position = 0

    init(text: [UInt8], fileOffset: Int, source: String) {
        self.text = text
        self.fileOffset = fileOffset
        self.source = source
    }

    func parse() throws(NumpyError) -> Fields {
        var parser = self
        return try parser.parseDict()
    }

    private mutating func parseDict() throws(NumpyError) -> Fields {
        skipSpaces()
        try expect(UInt8(ascii: "{"))
        var values: [String: Value] = [:]
        while true {
            skipSpaces()
            if peek() == UInt8(ascii: "}") { position += 1; break }
            let keyOffset = position
            let key = try parseString()
            guard ["descr", "fortran_order", "shape"].contains(key) else { throw failure("unexpected key '\(key)'", at: keyOffset) }
            guard values[key] == nil else { throw failure("duplicate key '\(key)'", at: keyOffset) }
            skipSpaces()
            try expect(UInt8(ascii: ":"))
            skipSpaces()
            values[key] = try parseValue()
            skipSpaces()
            if peek() == UInt8(ascii: ",") { position += 1; continue }
            skipSpaces()
            try expect(UInt8(ascii: "}"))
            break
        }
        skipSpaces()
        guard position == text.count else { throw failure("unexpected bytes after the header dict", at: position) }

        guard case .string(let descr)? = values["descr"] else { throw failure("'descr' is missing or not a string", at: 0) }
        guard case .bool(let fortranOrder)? = values["fortran_order"] else {
            throw failure("'fortran_order' is missing or not True/False", at: 0)
        }
        guard case .tuple(let shape)? = values["shape"] else { throw failure("'shape' is missing or not a tuple", at: 0) }
        return Fields(descr: descr, fortranOrder: fortranOrder, shape: shape)
    }

    private mutating func parseValue() throws(NumpyError) -> Value {
        switch peek() {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "("):
            return .tuple(try parseTuple())
        default:
            if consume("True") { return .bool(true) }
            if consume("False") { return .bool(false) }
            // A structured dtype's descr is a list; say so rather than "unexpected byte".
            if peek() == UInt8(ascii: "[") { throw failure("structured dtypes (a list as 'descr') are not supported", at: position) }
            throw failure("expected a string, True, False or a tuple", at: position)
        }
    }

    private mutating func parseString() throws(NumpyError) -> String {
        guard let quote = peek(), quote == UInt8(ascii: "'") || quote == UInt8(ascii: "\"") else {
            throw failure("expected a quoted string", at: position)
        }
        let start = position
        position += 1
        var characters: [UInt8] = []
        while let byte = peek(), byte != quote {
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") else {
                throw failure("unsupported character 0x\(String(byte, radix: 16)) in a string", at: position)
            }
            guard characters.count < 64 else { throw failure("string longer than 64 characters", at: start) }
            characters.append(byte)
            position += 1
        }
        guard peek() == quote else { throw failure("unterminated string", at: start) }
        position += 1
        return String(decoding: characters, as: UTF8.self)
    }

    private mutating func parseTuple() throws(NumpyError) -> [Int] {
        try expect(UInt8(ascii: "("))
        let start = position
        var dimensions: [Int] = []
        var trailingComma = false
        while true {
            skipSpaces()
            if peek() == UInt8(ascii: ")") { position += 1; break }
            trailingComma = false
            guard dimensions.count < NumpyArray.maxDimensions else {
                throw failure("more than \(NumpyArray.maxDimensions) dimensions", at: position)
            }
            dimensions.append(try parseDimension())
            skipSpaces()
            if peek() == UInt8(ascii: ",") { position += 1; trailingComma = true; continue }
            skipSpaces()
            try expect(UInt8(ascii: ")"))
            break
        }
        // Python needs the trailing comma for a 1-tuple; "(3)" is the int 3, not a shape.
        if dimensions.count == 1 && !trailingComma { throw failure("'(n)' is not a tuple; numpy writes '(n,)'", at: start) }
        return dimensions
    }

    private mutating func parseDimension() throws(NumpyError) -> Int {
        let start = position
        if peek() == UInt8(ascii: "-") { throw failure("negative dimension", at: start) }
        var value = 0
        var digits = 0
        while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            let (shifted, overflowMultiply) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowAdd) = shifted.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflowMultiply, !overflowAdd else { throw failure("dimension does not fit in 64 bits", at: start) }
            value = sum
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw failure("expected a dimension (a non-negative integer)", at: start) }
        if peek() == UInt8(ascii: "L") { position += 1 }  // Python 2 long literals, as old numpy wrote them
        return value
    }

    private func peek() -> UInt8? { position < text.count ? text[position] : nil }

    private mutating func skipSpaces() {
        while let byte = peek(), byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D { position += 1 }
    }

    private mutating func expect(_ byte: UInt8) throws(NumpyError) {
        guard peek() == byte else {
            throw failure("expected '\(Character(Unicode.Scalar(byte)))'", at: position)
        }
        position += 1
    }

    private mutating func consume(_ word: String) -> Bool {
        let bytes = Array(word.utf8)
        guard text.count - position >= bytes.count, text[position..<(position + bytes.count)].elementsEqual(bytes) else {
            return false
        }
        position += bytes.count
        return true
    }

    private func failure(_ reason: String, at position: Int) -> NumpyError {
        .invalidHeader(source: source, offset: fileOffset + position, reason: reason)
    }
}
