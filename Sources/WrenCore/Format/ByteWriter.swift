/// Little-endian stores into a zero-filled byte array of a fixed length: the writer's twin of
/// `ByteReader`. A store past the end is the writer's own bug and traps.
struct ByteWriter {
    var bytes: [UInt8]

    init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }

    mutating func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        precondition(offset >= 0 && offset + size <= bytes.count, "writer overran its own layout")
        for i in 0..<size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    mutating func store(_ value: [UInt8], at offset: Int) {
        precondition(offset >= 0 && offset + value.count <= bytes.count, "writer overran its own layout")
        for (i, byte) in value.enumerated() { bytes[offset + i] = byte }
    }
}

extension Array where Element == UInt8 {
    /// Appends `value`'s bytes, least significant first.
    public mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        for i in 0..<MemoryLayout<T>.size { append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }

    /// `values` as consecutive little-endian bytes (a blob of `formats/wren-v1.md` §6.2).
    public static func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * MemoryLayout<T>.size)
        for v in values { bytes.appendLittleEndian(v) }
        return bytes
    }

    /// Float32 values by bit pattern, little-endian.
    public static func littleEndian(_ values: [Float]) -> [UInt8] {
        littleEndian(values.map { $0.bitPattern })
    }
}
