/// Bounds-checked little-endian reads over a byte buffer. Every read names its field so a failure
/// says what was being read and where.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer

    var count: Int { bytes.count }

    /// Checks that `length` bytes at `offset` lie inside the buffer, without overflow.
    func require(_ field: String, offset: Int, length: Int) throws(WrenError) {
        guard offset >= 0, length >= 0 else {
            throw .invalidField(field: field, offset: offset, reason: "negative offset or length")
        }
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= bytes.count else {
            throw .truncated(field: field, offset: offset, needed: length, available: max(0, bytes.count - offset))
        }
    }

    func u8(_ field: String, at offset: Int) throws(WrenError) -> UInt8 {
        try require(field, offset: offset, length: 1)
        return bytes[offset]
    }

    func u16(_ field: String, at offset: Int) throws(WrenError) -> UInt16 {
        try require(field, offset: offset, length: 2)
        return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
    }

    func u32(_ field: String, at offset: Int) throws(WrenError) -> UInt32 {
        try require(field, offset: offset, length: 4)
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes[offset + i]) << UInt32(8 * i) }
        return value
    }

    func i32(_ field: String, at offset: Int) throws(WrenError) -> Int32 {
        Int32(bitPattern: try u32(field, at: offset))
    }

    func u64(_ field: String, at offset: Int) throws(WrenError) -> UInt64 {
        try require(field, offset: offset, length: 8)
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
        return value
    }

    func f32(_ field: String, at offset: Int) throws(WrenError) -> Float {
        Float(bitPattern: try u32(field, at: offset))
    }

    /// A u64 field's `value` (read at `offset`) that must fit in `Int` (and so in the file).
    static func int(_ value: UInt64, _ field: String, at offset: Int) throws(WrenError) -> Int {
        guard value <= UInt64(Int.max) else {
            throw .invalidField(field: field, offset: offset, reason: "value \(value) overflows")
        }
        return Int(value)
    }

    /// UTF-8 text of `length` bytes at `offset`; invalid UTF-8 is an error, not a replacement.
    func utf8(_ field: String, at offset: Int, length: Int) throws(WrenError) -> String {
        try require(field, offset: offset, length: length)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
        guard let text = String(validating: slice.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw .invalidField(field: field, offset: offset, reason: "not valid UTF-8")
        }
        return text
    }
}
