import Foundation

/// Checks a zip archive's end records before ZIPFoundation reads it: ZIPFoundation's in-memory
/// reader traps (instead of throwing) on a central directory that starts or ends outside the data,
/// and on ZIP64 offsets beyond 2^63 (both found by fuzzing). torch.save always writes ZIP64 end
/// records, so those are read here too: every offset and size is checked against the bytes present.
enum ZipDirectoryCheck {
    static func check(_ data: Data, fileName: String) throws(ImportError) {
        let bytes = [UInt8](data)
        let count = bytes.count
        func fail(_ reason: String) -> ImportError { .invalidZip(file: fileName, reason: reason) }
        func u16(_ at: Int) -> UInt64 { UInt64(bytes[at]) | UInt64(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt64 { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> UInt64 { u32(at) | u32(at + 4) << 32 }

        // End of central directory: 22 bytes plus a comment of at most 65535 bytes.
        guard count >= 22 else { throw fail("\(count) bytes is too short for a zip archive") }
        var end = -1
        var at = count - 22
        while at >= max(0, count - 22 - 65535) {
            if bytes[at] == 0x50, bytes[at + 1] == 0x4B, bytes[at + 2] == 0x05, bytes[at + 3] == 0x06,
               at + 22 + Int(u16(at + 20)) == count {
                end = at
                break
            }
            at -= 1
        }
        guard end >= 0 else { throw fail("no end-of-central-directory record") }
        var entries = u16(end + 10)
        var directorySize = u32(end + 12)
        var directoryOffset = u32(end + 16)
        var directoryEnd = UInt64(end)

        // ZIP64: a 20-byte locator right before the end record points at the ZIP64 end record.
        if end >= 20, bytes[end - 20] == 0x50, bytes[end - 19] == 0x4B, bytes[end - 18] == 0x06, bytes[end - 17] == 0x07 {
            let recordOffset = u64(end - 20 + 8)
            guard recordOffset <= UInt64(end - 20), Int(recordOffset) + 56 <= end - 20 else {
                throw fail("ZIP64 end record offset \(recordOffset) lies outside the archive")
            }
            let record = Int(recordOffset)
            guard bytes[record] == 0x50, bytes[record + 1] == 0x4B, bytes[record + 2] == 0x06, bytes[record + 3] == 0x06 else {
                throw fail("no ZIP64 end record at offset \(record)")
            }
            entries = u64(record + 32)
            directorySize = u64(record + 40)
            directoryOffset = u64(record + 48)
            directoryEnd = UInt64(record)
        }
        guard directoryOffset <= directoryEnd, directorySize <= directoryEnd - directoryOffset else {
            throw fail("central directory (offset \(directoryOffset), \(directorySize) bytes) lies outside the archive")
        }
        // Each central directory entry takes at least 46 bytes.
        guard entries <= directorySize / 46 else {
            throw fail("\(entries) entries cannot fit in a \(directorySize)-byte central directory")
        }
    }
}
