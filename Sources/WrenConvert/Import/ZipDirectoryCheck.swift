import Foundation

/// Checks a zip archive's structure before ZIPFoundation is handed the bytes.
///
/// ZIPFoundation (0.9.20) seeks wherever the end record, the central directory and the local headers
/// say, and its in-memory file traps instead of throwing when a read starts past the end of the data
/// (`Archive.MemoryFile.readData`: "Range requires lowerBound <= upperBound") or when an offset does
/// not fit `off_t`, 2^63 and up (`Data.readStruct`, `Archive.extract`). So this check finds every
/// structure the way ZIPFoundation finds it and refuses the archive unless each one lies inside the
/// file, with overflow-checked arithmetic, and agrees with the others.
///
/// What ZIPFoundation reads, in order (integers little-endian, offsets from the start of the file):
///
/// 1. End record: the *last* `PK 05 06` at or before `count - 22`
///    (`Archive.scanForEndOfCentralDirectoryRecord`), 22 bytes and a comment: +10 u16 entries,
///    +12 u32 directory size, +16 u32 directory offset, +20 u16 comment length. The comment must end
///    exactly at the end of the file: otherwise the signature ZIPFoundation picked sits inside a
///    comment, or bytes follow the archive.
/// 2. ZIP64 (torch.save always writes it): a 20-byte locator `PK 06 07` right before the end record,
///    +8 u64 offset of the ZIP64 end record. ZIPFoundation reads that record 56 bytes before the
///    locator whatever the locator says, so the two must agree. The record: `PK 06 06`, +4 u64 size
///    of the rest (44: no extensible data), +14 u16 version needed (ZIPFoundation ignores the record
///    below 45), +32 u64 entries, +40 u64 directory size, +48 u64 directory offset; these replace the
///    end record's values.
/// 3. Central directory: `entries` records back to back from the directory offset, filling the
///    directory exactly, which ends at or before the ZIP64 end record (or the end record). A record
///    is 46 bytes, then name, extra field and comment: `PK 01 02`, +6 u16 version needed, +8 u16 flags
///    (bit 0 encrypted, bit 3 data descriptor), +10 u16 method, +16 u32 CRC-32, +20 u32 compressed
///    size, +24 u32 uncompressed size, +28 u16 name length, +30 u16 extra length, +32 u16 comment
///    length, +34 u16 disk, +42 u32 local header offset. The first extra field with id 1 (ZIP64)
///    holds an 8-byte uncompressed size, compressed size and local header offset and a 4-byte disk,
///    in that order, each present only when its 32-bit field is all ones; a non-zero ZIP64 value
///    replaces the 32-bit one (`Entry.CentralDirectoryStructure.effective*`).
/// 4. Local header at that offset: `PK 03 04`, +8 u16 method, +26 u16 name length, +28 u16 extra
///    length (its sizes are not read: torch.save writes zeros there and a data descriptor after the
///    data). Then the data: the uncompressed size for method 0 (stored), the compressed size otherwise.
/// 5. Data descriptor (flag bit 3) right after the data: 16 bytes, 24 for a ZIP64 entry (version
///    needed ≥ 45 or a ZIP64 extra field), `PK 07 08` optional: CRC-32, compressed size, uncompressed
///    size. ZIPFoundation takes the entry's checksum and sizes from it, so they must equal the central
///    directory's.
///
/// Local headers, data and descriptors must lie before the central directory. Encrypted entries are
/// refused (ZIPFoundation would silently stop listing entries at the first one).
enum ZipDirectoryCheck {
    static func check(_ data: Data, fileName: String) throws(ImportError) {
        // Read in place: a checkpoint can be 150 MB.
        let refusal: Refusal? = data.withUnsafeBytes { raw in
            do throws(Refusal) {
                try ZipWalk(file: LittleEndianBytes(raw)).run()
                return nil
            } catch {
                return error
            }
        }
        if let refusal { throw .invalidZip(file: fileName, reason: refusal.reason) }
    }
}

private struct Refusal: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Little-endian integers at byte offsets the caller has already checked against `count`.
private struct LittleEndianBytes {
    let raw: UnsafeRawBufferPointer
    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

    var count: Int { raw.count }

    func u16(_ at: Int) -> UInt64 {
        assert(at >= 0 && at <= count - 2, "u16 at \(at) of \(count) bytes")
        return UInt64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
    }

    func u32(_ at: Int) -> UInt64 {
        assert(at >= 0 && at <= count - 4, "u32 at \(at) of \(count) bytes")
        return UInt64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
    }

    func u64(_ at: Int) -> UInt64 {
        assert(at >= 0 && at <= count - 8, "u64 at \(at) of \(count) bytes")
        return UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
    }

    /// Whether the four bytes at `at` (which must exist) are `PK` followed by `third`, `fourth`.
    func isSignature(_ third: UInt8, _ fourth: UInt8, at: Int) -> Bool {
        u32(at) == 0x4B50 | UInt64(third) << 16 | UInt64(fourth) << 24
    }

    /// `bytes[at ..< at + length]` decoded as UTF-8 (invalid bytes become U+FFFD), for messages.
    func text(_ at: Int, length: Int) -> String {
        assert(at >= 0 && length >= 0 && at <= count - length)
        return String(decoding: UnsafeRawBufferPointer(rebasing: raw[at..<(at + length)]), as: UTF8.self)
    }
}

/// `start + length` when that is at most `limit` (all three from the file or already checked), as an Int.
private func rangeEnd(_ start: UInt64, plus length: UInt64, within limit: Int) -> Int? {
    let limit = UInt64(limit)
    guard start <= limit, length <= limit - start else { return nil }
    return Int(start + length)
}

private struct ZipWalk {
    let file: LittleEndianBytes

    static let endRecordSize = 22, locatorSize = 20, zip64RecordSize = 56
    static let centralHeaderSize = 46, localHeaderSize = 30
    static let allOnes32: UInt64 = 0xFFFF_FFFF

    /// Where the central directory is, after the end records.
    struct Directory {
        var entries: UInt64
        var offset: UInt64
        var size: UInt64
        /// The first byte after the space the directory may take (the ZIP64 end record or the end record).
        var limit: Int
    }

    func run() throws(Refusal) {
        let directory = try findDirectory()
        var at = Int(directory.offset)
        let directoryEnd = Int(directory.offset + directory.size)
        for index in 0..<Int(directory.entries) {
            at = try checkEntry(index: index, at: at, directoryStart: Int(directory.offset), directoryEnd: directoryEnd)
        }
        guard at == directoryEnd else {
            throw Refusal("the central directory at offset \(directory.offset) declares \(directory.size) bytes, "
                + "but its \(directory.entries) entries take \(at - Int(directory.offset))")
        }
    }

    // MARK: End records

    func findDirectory() throws(Refusal) -> Directory {
        let count = file.count
        guard count >= Self.endRecordSize else { throw Refusal("\(count) bytes is too short for a zip archive") }
        // ZIPFoundation takes the last signature in the whole file; one further from the end than the
        // largest comment allows could not end at the end of the file, so the search stops there.
        let window = Self.endRecordSize + 0xFFFF
        let lowest = max(0, count - window)
        guard let end = stride(from: count - Self.endRecordSize, through: lowest, by: -1).first(where: {
            file.isSignature(0x05, 0x06, at: $0)
        }) else {
            throw Refusal("no end-of-central-directory record (PK 05 06) in the last \(min(count, window)) bytes")
        }
        let commentLength = Int(file.u16(end + 20))
        guard end + Self.endRecordSize + commentLength == count else {
            throw Refusal("the end-of-central-directory record at offset \(end) has a \(commentLength)-byte comment "
                + "ending at offset \(end + Self.endRecordSize + commentLength), not at the end of the file (\(count) bytes)")
        }
        var directory = Directory(entries: file.u16(end + 10), offset: file.u32(end + 16), size: file.u32(end + 12), limit: end)

        if end >= Self.locatorSize, file.isSignature(0x06, 0x07, at: end - Self.locatorSize) {
            let locator = end - Self.locatorSize
            guard locator > Self.zip64RecordSize else {
                throw Refusal("the ZIP64 locator at offset \(locator) leaves no room for the 56-byte ZIP64 end record before it")
            }
            let record = locator - Self.zip64RecordSize
            let pointed = file.u64(locator + 8)
            guard file.isSignature(0x06, 0x06, at: record) else {
                throw Refusal("no ZIP64 end record (PK 06 06) at offset \(record), 56 bytes before the ZIP64 locator at offset \(locator)")
            }
            guard pointed == UInt64(record) else {
                throw Refusal("the ZIP64 locator at offset \(locator) points at offset \(pointed), but the ZIP64 end record is at offset \(record)")
            }
            let recordSize = file.u64(record + 4)
            guard recordSize == UInt64(Self.zip64RecordSize - 12) else {
                throw Refusal("the ZIP64 end record at offset \(record) declares \(recordSize) bytes after its size field; "
                    + "44 expected (extensible data is not supported)")
            }
            let version = file.u16(record + 14)
            guard version >= 45 else {
                throw Refusal("the ZIP64 end record at offset \(record) needs version \(version) to extract; 45 or more expected")
            }
            directory = Directory(entries: file.u64(record + 32), offset: file.u64(record + 48), size: file.u64(record + 40), limit: record)
        }

        guard rangeEnd(directory.offset, plus: directory.size, within: directory.limit) != nil else {
            throw Refusal("central directory (offset \(directory.offset), \(directory.size) bytes) lies outside the archive")
        }
        // Each central directory entry takes at least 46 bytes.
        guard directory.entries <= directory.size / UInt64(Self.centralHeaderSize) else {
            throw Refusal("\(directory.entries) entries cannot fit in a \(directory.size)-byte central directory")
        }
        return directory
    }

    // MARK: Entries

    /// Checks the central directory entry `index` at `at`, its local header, data and data descriptor;
    /// returns the offset of the next entry.
    func checkEntry(index: Int, at: Int, directoryStart: Int, directoryEnd: Int) throws(Refusal) -> Int {
        let place = "central directory entry \(index) at offset \(at)"
        guard at <= directoryEnd - Self.centralHeaderSize else {
            throw Refusal("\(place): its 46-byte header runs past the end of the directory at offset \(directoryEnd)")
        }
        guard file.isSignature(0x01, 0x02, at: at) else { throw Refusal("\(place): no PK 01 02 signature") }
        let nameLength = Int(file.u16(at + 28)), extraLength = Int(file.u16(at + 30)), commentLength = Int(file.u16(at + 32))
        let next = at + Self.centralHeaderSize + nameLength + extraLength + commentLength
        guard next <= directoryEnd else {
            throw Refusal("\(place): its name, extra field and comment (\(nameLength) + \(extraLength) + \(commentLength) bytes) "
                + "run past the end of the directory at offset \(directoryEnd)")
        }
        let name = "entry '\(file.text(at + Self.centralHeaderSize, length: nameLength))'"
        let versionNeeded = file.u16(at + 6), flags = file.u16(at + 8), method = file.u16(at + 10)
        guard flags & 1 == 0 else { throw Refusal("\(name) (\(place)) is encrypted") }

        // The values ZIPFoundation uses: a non-zero ZIP64 value in place of an all-ones 32-bit one.
        var compressed = file.u32(at + 20), uncompressed = file.u32(at + 24), localOffset = file.u32(at + 42)
        let zip64 = try zip64Values(
            extraAt: at + Self.centralHeaderSize + nameLength, length: extraLength, entry: name,
            hasUncompressed: uncompressed == Self.allOnes32, hasCompressed: compressed == Self.allOnes32,
            hasOffset: localOffset == Self.allOnes32, hasDisk: file.u16(at + 34) == 0xFFFF)
        if let zip64 {
            if zip64.uncompressed > 0 { uncompressed = zip64.uncompressed }
            if zip64.compressed > 0 { compressed = zip64.compressed }
            if zip64.offset > 0 { localOffset = zip64.offset }
        }
        let isZIP64 = versionNeeded & 0xFF >= 45 || zip64 != nil

        // Local header, then the data, then the data descriptor, all before the central directory.
        guard let localNamesAt = rangeEnd(localOffset, plus: UInt64(Self.localHeaderSize), within: directoryStart) else {
            throw Refusal("\(name): local header offset \(localOffset) leaves no room for a 30-byte local header "
                + "before the central directory at offset \(directoryStart)")
        }
        let local = localNamesAt - Self.localHeaderSize
        guard file.isSignature(0x03, 0x04, at: local) else { throw Refusal("\(name): no local header (PK 03 04) at offset \(local)") }
        let localMethod = file.u16(local + 8)
        guard localMethod == method else {
            throw Refusal("\(name): the local header at offset \(local) says compression method \(localMethod), "
                + "the central directory says \(method)")
        }
        let localNameLength = file.u16(local + 26), localExtraLength = file.u16(local + 28)
        guard let dataAt = rangeEnd(UInt64(localNamesAt), plus: localNameLength + localExtraLength, within: directoryStart) else {
            throw Refusal("\(name): the local header at offset \(local) with a \(localNameLength)-byte name and a "
                + "\(localExtraLength)-byte extra field runs past the central directory at offset \(directoryStart)")
        }
        if method == 0 && compressed != uncompressed {
            throw Refusal("\(name) is stored (method 0) but declares \(compressed) compressed and \(uncompressed) uncompressed bytes")
        }
        guard let dataEnd = rangeEnd(UInt64(dataAt), plus: compressed, within: directoryStart) else {
            throw Refusal("\(name): \(compressed) bytes of data at offset \(dataAt) run past the central directory at offset \(directoryStart)")
        }
        if flags & 0b1000 != 0 {
            try checkDataDescriptor(
                at: dataEnd, isZIP64: isZIP64, entry: name, directoryStart: directoryStart,
                central: (crc: file.u32(at + 16), compressed: compressed, uncompressed: uncompressed))
        }
        return next
    }

    /// ZIPFoundation's reading of the extra field (`ZIP64ExtendedInformation.scanForZIP64Field`): the
    /// first field with id 1 if every field before it fits; its size must be exactly the wanted values'.
    func zip64Values(
        extraAt: Int, length: Int, entry: String, hasUncompressed: Bool, hasCompressed: Bool, hasOffset: Bool, hasDisk: Bool
    ) throws(Refusal) -> (uncompressed: UInt64, compressed: UInt64, offset: UInt64)? {
        var field = 0
        while field < length - 4 {
            let id = file.u16(extraAt + field), size = Int(file.u16(extraAt + field + 2))
            let next = field + 4 + size
            guard next <= length else { return nil }
            if id == 1 {
                let expected = (hasUncompressed ? 8 : 0) + (hasCompressed ? 8 : 0) + (hasOffset ? 8 : 0) + (hasDisk ? 4 : 0)
                guard size == expected else {
                    throw Refusal("\(entry): its ZIP64 extra field holds \(size) bytes, \(expected) expected for the "
                        + "sizes, offset and disk that are all ones in the central directory")
                }
                var value = extraAt + field + 4
                func take(_ present: Bool) -> UInt64 {
                    guard present else { return 0 }
                    defer { value += 8 }
                    return file.u64(value)
                }
                let uncompressed = take(hasUncompressed), compressed = take(hasCompressed), offset = take(hasOffset)
                return (uncompressed, compressed, offset)
            }
            field = next
        }
        return nil
    }

    func checkDataDescriptor(
        at: Int, isZIP64: Bool, entry: String, directoryStart: Int, central: (crc: UInt64, compressed: UInt64, uncompressed: UInt64)
    ) throws(Refusal) {
        let size = isZIP64 ? 24 : 16
        guard at <= directoryStart - size else {
            throw Refusal("\(entry): its \(size)-byte data descriptor at offset \(at) runs past the central directory at offset \(directoryStart)")
        }
        let fields = file.isSignature(0x07, 0x08, at: at) ? at + 4 : at
        let crc = file.u32(fields)
        let compressed = isZIP64 ? file.u64(fields + 4) : file.u32(fields + 4)
        let uncompressed = isZIP64 ? file.u64(fields + 12) : file.u32(fields + 8)
        guard crc == central.crc, compressed == central.compressed, uncompressed == central.uncompressed else {
            throw Refusal("\(entry): the data descriptor at offset \(at) says CRC-32 \(crc), \(compressed) compressed and "
                + "\(uncompressed) uncompressed bytes; the central directory says \(central.crc), \(central.compressed) "
                + "and \(central.uncompressed)")
        }
    }
}
