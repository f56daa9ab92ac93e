import Testing
import WrenTestSupport
import WrenCore

/// CRC-32 against known values. Expected values: `python3 -c "import zlib; print(hex(zlib.crc32(...)))"`
/// (CPython 3 zlib); "123456789" → 0xCBF43926 is the standard check value of CRC-32/ISO-HDLC.
@Suite struct CRC32Tests {
    static func crc(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32()
        bytes.withUnsafeBytes { crc.update($0) }
        return crc.value
    }

    @Test func knownVectors() {
        #expect(Self.crc(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(Self.crc([]) == 0)
        #expect(Self.crc(Array("a".utf8)) == 0xE8B7_BE43)
        #expect(Self.crc(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
        #expect(Self.crc([UInt8](repeating: 0, count: 1000)) == 0x060B_1780)
    }

    @Test func zerosAndPiecewiseUpdatesEqualOneUpdate() {
        var rng = SplitMix64(seed: 0x4352_43)
        let bytes = (0..<5000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let whole = Self.crc(bytes)
        for split in [0, 1, 7, 64, 2500, 4999, 5000] {
            var crc = CRC32()
            bytes.withUnsafeBytes { raw in
                crc.update(UnsafeRawBufferPointer(rebasing: raw[0..<split]))
                crc.update(UnsafeRawBufferPointer(rebasing: raw[split...]))
            }
            #expect(crc.value == whole, "split at \(split)")
        }
        var zeros = CRC32()
        zeros.update(zeros: 1000)
        #expect(zeros.value == 0x060B_1780)
    }

    /// `zlib.crc32(d[:32] + b"\0\0\0\0" + d[36:])` with `d = bytes((i*7+3) % 256 for i in range(100))`
    /// is 0x65a5e15b (formats/wren-v1.md §2); the checksum bytes' own value must not matter.
    @Test func wrenChecksumReadsTheChecksumFieldAsZero() {
        var file = (0..<100).map { UInt8(($0 * 7 + 3) % 256) }
        #expect(file.withUnsafeBytes { CRC32.wrenChecksum($0) } == 0x65A5_E15B)
        file[32] = 0xFF
        file[35] = 0x12
        #expect(file.withUnsafeBytes { CRC32.wrenChecksum($0) } == 0x65A5_E15B)
        file[36] ^= 1
        #expect(file.withUnsafeBytes { CRC32.wrenChecksum($0) } != 0x65A5_E15B)
    }
}
