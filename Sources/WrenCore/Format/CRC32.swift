/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum zlib and zip use, so any
/// language's standard library can verify a `.wren` file.
public struct CRC32: Sendable {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var c = state
        Self.table.withUnsafeBufferPointer { table in
            for byte in bytes { c = table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        }
        state = c
    }

    public mutating func update(zeros count: Int) {
        var c = state
        for _ in 0..<count { c = Self.table[Int(c & 0xFF)] ^ (c >> 8) }
        state = c
    }

    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    /// The checksum a `.wren` header stores: CRC-32 of the whole file with the 4 checksum bytes read as zero.
    public static func wrenChecksum(_ file: UnsafeRawBufferPointer) -> UInt32 {
        let at = WrenFormat.Header.Field.checksum.rawValue
        var crc = CRC32()
        crc.update(UnsafeRawBufferPointer(rebasing: file[0..<min(at, file.count)]))
        guard file.count >= at + 4 else { return crc.value }
        crc.update(zeros: 4)
        crc.update(UnsafeRawBufferPointer(rebasing: file[(at + 4)...]))
        return crc.value
    }
}
