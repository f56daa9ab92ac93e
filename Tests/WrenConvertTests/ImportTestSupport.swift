import Foundation

/// Paths and scratch files for the checkpoint-import tests.
enum ImportFixtures {
    /// The repository root, found from this file's location (Tests/WrenConvertTests/...).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models = repoRoot.appendingPathComponent("fixtures/models")
    static let hostile = repoRoot.appendingPathComponent("fixtures/hostile")

    /// Writes `bytes` to a fresh temporary file named `name` and returns its path.
    static func temporaryFile(named name: String, bytes: [UInt8]) throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("wren-import-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    /// A minimal zip archive with every entry stored (method 0), as `torch.save` writes them.
    /// Written here, not with ZIPFoundation, so tests can build archives the importer never made.
    static func storedZip(_ entries: [(name: String, bytes: [UInt8])]) -> [UInt8] {
        var archive: [UInt8] = []
        var directory: [UInt8] = []
        func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
        func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        for entry in entries {
            let name = Array(entry.name.utf8)
            let crc = le32(crc32(entry.bytes))
            let size = le32(UInt32(entry.bytes.count))
            let localOffset = le32(UInt32(archive.count))
            // version needed, flags, method, time, date, crc, sizes, name length, extra length
            let common = le16(20) + le16(0) + le16(0) + le16(0) + le16(0x21) + crc + size + size + le16(name.count) + le16(0)
            archive += [0x50, 0x4B, 0x03, 0x04] + common + name + entry.bytes
            // made by, then the common fields, comment length, disk, internal and external attributes, offset
            directory += [0x50, 0x4B, 0x01, 0x02] + le16(20) + common + le16(0) + le16(0) + le16(0) + le32(0) + localOffset + name
        }
        let directoryOffset = archive.count
        archive += directory
        archive += [0x50, 0x4B, 0x05, 0x06] + le16(0) + le16(0) + le16(entries.count) + le16(entries.count)
            + le32(UInt32(directory.count)) + le32(UInt32(directoryOffset)) + le16(0)
        return archive
    }

    /// CRC-32 (zlib's), bit by bit: slow and obviously right, fine for test-sized entries.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func bytes(fromHex hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
