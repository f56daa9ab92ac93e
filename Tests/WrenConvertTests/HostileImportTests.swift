import Foundation
import Testing
import WrenConvert
import WrenNetwork

// Hostile checkpoints the other import tests do not build: zip containers whose end records,
// central directory or local headers point outside the file or disagree (fixtures/hostile/zip_*.pth,
// each of which made ZIPFoundation trap or misread before ZipDirectoryCheck), zip entries with `..`
// paths, duplicate entries, sizes that lie, REDUCE of callables the importer must never treat as
// tensors, bad memo references, deep nesting through every container opcode, and views longer than
// their storage. Each must be refused with an ImportError naming the problem, nothing run, nothing
// written.
// (Globals outside the allowlist, truncation and the plain short-storage case are in PickleTests
// and ImportTests.)

// MARK: Building pickles and archives

/// Pickle protocol-2 opcodes, as `pickletools` names them; the byte values come from CPython's
/// `pickle.py`.
private enum Op {
    static let proto: UInt8 = 0x80, mark: UInt8 = 0x28, stop: UInt8 = 0x2E
    static let emptyDict: UInt8 = 0x7D, emptyList: UInt8 = 0x5D, emptyTuple: UInt8 = 0x29
    static let setItem: UInt8 = 0x73, setItems: UInt8 = 0x75, append: UInt8 = 0x61
    static let tuple: UInt8 = 0x74, tuple1: UInt8 = 0x85, reduce: UInt8 = 0x52, build: UInt8 = 0x62
    static let binPersID: UInt8 = 0x51, newFalse: UInt8 = 0x89, none: UInt8 = 0x4E
    static let binGet: UInt8 = 0x68, longBinGet: UInt8 = 0x6A, binPut: UInt8 = 0x71
}

private func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
private func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }

/// BINUNICODE.
private func text(_ string: String) -> [UInt8] { [0x58] + le32(UInt32(string.utf8.count)) + Array(string.utf8) }
/// BININT (signed 32-bit).
private func int(_ value: Int32) -> [UInt8] { [0x4A] + le32(UInt32(bitPattern: value)) }
/// GLOBAL 'module\nname\n'.
private func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
private func tuple(_ items: [[UInt8]]) -> [UInt8] { [Op.mark] + items.flatMap { $0 } + [Op.tuple] }

/// `_rebuild_tensor_v2(BINPERSID ('storage', torch.FloatStorage, key, 'cpu', numel), offset, size,
/// stride, False, OrderedDict())`, as torch.save writes a float tensor.
private func tensor(storage key: String, numel: Int32, offset: Int32 = 0, size: [Int32], stride: [Int32]) -> [UInt8] {
    let persistentID = tuple([text("storage"), global("torch", "FloatStorage"), text(key), text("cpu"), int(numel)]) + [Op.binPersID]
    let hooks = global("collections", "OrderedDict") + [Op.emptyTuple, Op.reduce]
    let arguments = tuple([persistentID, int(offset), tuple(size.map(int)), tuple(stride.map(int)), [Op.newFalse], hooks])
    return global("torch._utils", "_rebuild_tensor_v2") + arguments + [Op.reduce]
}

/// A protocol-2 pickle of a dict from string keys to already-pickled values.
private func dictPickle(_ entries: [(key: String, value: [UInt8])]) -> [UInt8] {
    [Op.proto, 2, Op.emptyDict, Op.mark] + entries.flatMap { text($0.key) + $0.value } + [Op.setItems, Op.stop]
}

/// Little-endian float32 bytes.
private func floats(_ values: [Float]) -> [UInt8] { values.flatMap { le32($0.bitPattern) } }

/// A valid one-tensor state dict {"w": [2, 3] view of storage "0"} with the given storage bytes.
private let sixFloats: [Float] = [-1, -0.5, 0, 0.5, 1, 1.5]
private let validPickle = dictPickle([("w", tensor(storage: "0", numel: 6, size: [2, 3], stride: [3, 1]))])

/// One zip entry, stored (method 0) unless `method` says otherwise. `declaredSize` overrides the
/// uncompressed size both headers claim (and, for a stored entry, the compressed size, which equals
/// it); `centralSize` overrides only the central directory's (for headers that disagree). A deflated
/// entry's compressed size is always `bytes.count`; its bytes are never inflated by these tests.
private struct ZipEntry {
    var name: String
    var bytes: [UInt8]
    var declaredSize: UInt32? = nil
    var centralSize: UInt32? = nil
    var method = 0
}

/// A zip archive written byte by byte so its headers can lie (ImportFixtures.storedZip cannot).
private func zip(_ entries: [ZipEntry]) -> [UInt8] {
    var archive: [UInt8] = []
    var directory: [UInt8] = []
    for entry in entries {
        let name = Array(entry.name.utf8)
        let crc = le32(ImportFixtures.crc32(entry.bytes))
        let size = le32(entry.declaredSize ?? UInt32(entry.bytes.count))
        let centralSize = entry.centralSize.map(le32) ?? size
        let stored = entry.method == 0
        let compressed = stored ? size : le32(UInt32(entry.bytes.count))
        let centralCompressed = stored ? centralSize : compressed
        let offset = le32(UInt32(archive.count))
        // version needed, flags, method, time, date
        let head = le16(20) + le16(0) + le16(entry.method) + le16(0) + le16(0x21)
        archive += [0x50, 0x4B, 0x03, 0x04] + head + crc + compressed + size + le16(name.count) + le16(0) + name + entry.bytes
        directory += [0x50, 0x4B, 0x01, 0x02] + le16(20) + head + crc + centralCompressed + centralSize + le16(name.count) + le16(0)
            + le16(0) + le16(0) + le16(0) + le32(0) + offset + name
    }
    let directoryOffset = archive.count
    return archive + directory + [0x50, 0x4B, 0x05, 0x06] + le16(0) + le16(0) + le16(entries.count) + le16(entries.count)
        + le32(UInt32(directory.count)) + le32(UInt32(directoryOffset)) + le16(0)
}

/// The entries of a well-formed checkpoint under `prefix`, with `pickle` as its data.pkl.
private func checkpointEntries(prefix: String = "archive", pickle: [UInt8] = validPickle, storage: [UInt8] = floats(sixFloats)) -> [ZipEntry] {
    [ZipEntry(name: "\(prefix)/data.pkl", bytes: pickle),
     ZipEntry(name: "\(prefix)/byteorder", bytes: Array("little".utf8)),
     ZipEntry(name: "\(prefix)/data/0", bytes: storage),
     ZipEntry(name: "\(prefix)/version", bytes: Array("3\n".utf8))]
}

/// What loading `bytes` as `name` did, and whether the load left anything beside the file.
private struct LoadOutcome {
    var error: ImportError?
    var tensors: [String: FloatTensor]?
    var filesAfterLoad: [String]
}

private let pwnedMarker = "/tmp/wren_pwned"

private func load(_ bytes: [UInt8], as name: String = "hostile.pth") throws -> LoadOutcome {
    let path = try ImportFixtures.temporaryFile(named: name, bytes: bytes)
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
    var outcome = LoadOutcome(error: nil, tensors: nil, filesAfterLoad: [])
    do {
        outcome.tensors = try CheckpointLoader.load(path: path).tensors
    } catch let error as ImportError {
        outcome.error = error
    }
    // Entries named `../x` must not have been extracted next to (or above) the checkpoint.
    outcome.filesAfterLoad = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        + FileManager.default.contentsOfDirectory(atPath: folder.deletingLastPathComponent().path)
            .filter { $0 == "evil" || $0 == "data.pkl" }
    return outcome
}

/// Expects `outcome` to be a refusal whose message contains every one of `phrases`, with nothing
/// written or run.
private func expectRefused(_ outcome: LoadOutcome, mentioning phrases: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(outcome.tensors == nil, "hostile file was imported: \(outcome.tensors?.keys.sorted() ?? [])", sourceLocation: sourceLocation)
    if let error = outcome.error {
        for phrase in phrases {
            #expect(error.description.contains(phrase), "'\(error)' does not mention '\(phrase)'", sourceLocation: sourceLocation)
        }
    }
    #expect(outcome.filesAfterLoad == ["hostile.pth"], "files after loading: \(outcome.filesAfterLoad)", sourceLocation: sourceLocation)
    #expect(!FileManager.default.fileExists(atPath: pwnedMarker), sourceLocation: sourceLocation)
}

@Suite struct HostileImportTests {
    @Test func theHandBuiltCheckpointIsValid() throws {
        // The control: without a hostile change, the same builders give an importable checkpoint.
        let outcome = try load(zip(checkpointEntries()))
        #expect(outcome.error == nil)
        #expect(outcome.tensors?["w"] == FloatTensor(shape: [2, 3], data: sixFloats))
    }

    // MARK: Zip structure

    @Test func entriesWithDotDotPathsAreRefused() throws {
        // The whole checkpoint under "../evil/": a reader that extracted would write outside its folder.
        // (ArchiveReader refuses the ".." component before it looks for data.pkl; the message names the entry.)
        let escaping = try load(zip(checkpointEntries(prefix: "../evil")))
        expectRefused(escaping, mentioning: ["../evil/data.pkl"])

        // The same at depth 2: "../data.pkl" has the shape of "<prefix>/data.pkl" with prefix "..".
        let parent = try load(zip(checkpointEntries(prefix: "..")))
        expectRefused(parent, mentioning: ["../data.pkl"])
        #expect(parent.filesAfterLoad == ["hostile.pth"])

        // A storage key that climbs out of data/: "archive/data/../data.pkl" would make the pickle
        // itself be read as float storage.
        let climbing = dictPickle([("w", tensor(storage: "../version", numel: 0, size: [0], stride: [1]))])
        var entries = checkpointEntries(pickle: climbing)
        entries.append(ZipEntry(name: "archive/data/../version", bytes: []))
        let climbed = try load(zip(entries))
        expectRefused(climbed, mentioning: ["../version"])
    }

    /// Found by `tools/fuzz.sh checkpoint` (minimized): 30 bytes of local header, then an end
    /// record whose central directory starts at 0x4F8, past the end of the 52-byte file.
    /// ZIPFoundation's in-memory archive (`Archive(data:)`, MemoryFile.readData) seeks there and
    /// traps on `Range requires lowerBound <= upperBound` (`wren convert` died with SIGILL), so
    /// ZipDirectoryCheck refuses it before ZIPFoundation sees the bytes.
    @Test
    func centralDirectoryPastTheEndIsRefused() throws {
        let endRecord = [0x50, 0x4B, 0x05, 0x06] + le16(0) + le16(0) + le16(1) + le16(1) + le32(46) + le32(0x4F8) + le16(0)
        let outcome = try load([0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 26) + endRecord)
        guard case .invalidZip(file: "hostile.pth", _) = outcome.error else {
            Issue.record("a directory past the end gave \(String(describing: outcome.error))")
            return
        }
        expectRefused(outcome, mentioning: ["hostile.pth"])
    }

    /// Found by `tools/fuzz.sh checkpoint`, rebuilt by hand: a ZIP64 end record whose central
    /// directory offset is 2^63. ZIPFoundation converts it to `off_t` in `Data.readStruct`
    /// (Data+Serialization.swift:40, `fseeko(file, off_t(offset), SEEK_SET)`) and traps on "Not
    /// enough bits to represent the passed value" (`wren convert` died with SIGILL); refused by
    /// ZipDirectoryCheck like the test above.
    @Test
    func zip64OffsetBeyondInt64IsRefused() throws {
        func le64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }
        let local: [UInt8] = [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 0, count: 26)
        // size of record, versions, disks, entries (this disk, total), directory size, directory offset
        let zip64End = [0x50, 0x4B, 0x06, 0x06] + le64(44) + le16(45) + le16(45) + le32(0) + le32(0)
            + le64(1) + le64(1) + le64(46) + le64(1 << 63)
        let locator = [0x50, 0x4B, 0x06, 0x07] + le32(0) + le64(UInt64(local.count)) + le32(1)
        let end = [0x50, 0x4B, 0x05, 0x06] + le16(0) + le16(0) + le16(0xFFFF) + le16(0xFFFF) + le32(.max) + le32(.max) + le16(0)
        let outcome = try load(local + zip64End + locator + end)
        guard case .invalidZip(file: "hostile.pth", _) = outcome.error else {
            Issue.record("a ZIP64 offset of 2^63 gave \(String(describing: outcome.error))")
            return
        }
        expectRefused(outcome, mentioning: ["hostile.pth"])
    }

    /// The two files review found after the end-record check: `localpast` has an in-bounds end record
    /// and a central directory entry whose local header is at 0x4F8, past the end of the 110-byte file;
    /// `comment` has a valid end record whose comment is a second end record (directory at 0x4F8)
    /// and one more byte. ZIPFoundation took the second (it takes the last signature in the file)
    /// and, in both, trapped in MemoryFile.readData.
    @Test func reviewProbesAreRefused() throws {
        let localPast = ImportFixtures.bytes(fromHex: "504b0304" + String(repeating: "00", count: 26)
            // Central directory entry: versions 20, flags to sizes 0, name length 16, local header at 0x4F8.
            + "504b0102" + "1400" + "1400" + String(repeating: "00", count: 20) + "1000" + String(repeating: "00", count: 12)
            + "f8040000" + "617263686976652f646174612e706b6c"
            // End record: 1 entry, a 62-byte directory at offset 30, no comment.
            + "504b0506" + "00000000" + "0100" + "0100" + "3e000000" + "1e000000" + "0000")
        let past = try load(localPast)
        #expect(past.error == .invalidZip(
            file: "hostile.pth",
            reason: "entry 'archive/data.pkl': local header offset 1272 leaves no room for a 30-byte local header "
                + "before the central directory at offset 30"))
        expectRefused(past, mentioning: ["archive/data.pkl", "1272"])

        let comment = ImportFixtures.bytes(fromHex: "504b0304" + String(repeating: "00", count: 26)
            // End record: no entries, an empty directory at offset 30, a 23-byte comment...
            + "504b0506" + "00000000" + "0000" + "0000" + "00000000" + "1e000000" + "1700"
            // ...which is an end record (1 entry, 46 bytes at 0x4F8, no comment) and an "X".
            + "504b0506" + "00000000" + "0100" + "0100" + "2e000000" + "f8040000" + "0000" + "58")
        let fake = try load(comment)
        #expect(fake.error == .invalidZip(
            file: "hostile.pth",
            reason: "the end-of-central-directory record at offset 52 has a 0-byte comment ending at offset 74, "
                + "not at the end of the file (75 bytes)"))
        expectRefused(fake, mentioning: ["offset 52"])
    }

    /// fixtures/hostile/zip_control.pth: the torch.save-shaped archive (data descriptors, "FB" padding,
    /// ZIP64 end records) that every zip_*.pth fixture changes in one place, written by the same
    /// script; it must import.
    @Test func theZipFixtureControlImports() throws {
        let bytes = [UInt8](try Data(contentsOf: ImportFixtures.hostile.appendingPathComponent("zip_control.pth")))
        let outcome = try load(bytes)
        #expect(outcome.error == nil)
        #expect(outcome.tensors == ["w": FloatTensor(shape: [2, 3], data: sixFloats)])
    }

    /// fixtures/hostile/zip*.pth (tools/make_hostile_fixtures.py): one fault each in the zip
    /// container; the first five made ZIPFoundation trap (SIGILL) when handed the bytes unchecked.
    @Test(arguments: [
        ("zip_local_header_past_end.pth",
         "entry 'archive/data.pkl': local header offset 65536 leaves no room for a 30-byte local header "
            + "before the central directory at offset 594"),
        ("zip_end_record_in_comment.pth",
         "the end-of-central-directory record at offset 938 has a 0-byte comment ending at offset 960, "
            + "not at the end of the file (961 bytes)"),
        ("zip64_extra_offset_2_63.pth",
         "entry 'archive/data.pkl': local header offset 9223372036854775808 leaves no room for a 30-byte local header "
            + "before the central directory at offset 594"),
        ("zip64_extra_size_2_63.pth",
         "entry 'archive/data/0': 9223372036854775808 bytes of data at offset 448 run past the central directory at offset 594"),
        ("zip_data_past_end.pth",
         "entry 'archive/data/0': 2147418112 bytes of data at offset 448 run past the central directory at offset 594"),
        ("zip_entry_runs_past_directory.pth",
         "central directory entry 3 at offset 779: its name, extra field and comment (15 + 0 + 20 bytes) "
            + "run past the end of the directory at offset 840"),
        ("zip_descriptor_disagrees.pth",
         "entry 'archive/data/0': the data descriptor at offset 472 says CRC-32 3129946899, 24 compressed and "
            + "1048576 uncompressed bytes; the central directory says 3129946899, 24 and 24"),
        ("zip64_locator_disagrees.pth",
         "the ZIP64 locator at offset 896 points at offset 832, but the ZIP64 end record is at offset 840"),
    ])
    func hostileZipFixturesAreRefused(file: String, reason: String) throws {
        let bytes = [UInt8](try Data(contentsOf: ImportFixtures.hostile.appendingPathComponent(file)))
        let outcome = try load(bytes)
        #expect(outcome.error == .invalidZip(file: "hostile.pth", reason: reason), "\(file)")
        expectRefused(outcome, mentioning: ["hostile.pth"])
    }

    /// Faults in the hand-built archive that need no fixture file: each is refused by ZipDirectoryCheck
    /// with a reason naming the problem and its offset.
    @Test func inconsistentZipStructureIsRefused() throws {
        let valid = zip(checkpointEntries())
        let end = valid.count - 22
        let directory = Int(valid[end + 16]) | Int(valid[end + 17]) << 8
        func refused(_ change: (inout [UInt8]) -> Void, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            var bytes = valid
            change(&bytes)
            let outcome = try load(bytes)
            #expect(outcome.error == .invalidZip(file: "hostile.pth", reason: reason), sourceLocation: sourceLocation)
            expectRefused(outcome, mentioning: ["hostile.pth"], sourceLocation: sourceLocation)
        }
        // Bytes after the archive: the end record's comment no longer ends at the end of the file.
        try refused({ $0 += [0, 0] }, "the end-of-central-directory record at offset \(end) has a 0-byte comment ending at offset \(end + 22), not at the end of the file (\(end + 24) bytes)")
        // The first entry is encrypted (flag bit 0).
        try refused({ $0[directory + 8] |= 1 }, "entry 'archive/data.pkl' (central directory entry 0 at offset \(directory)) is encrypted")
        // The central directory says deflate, the local header says stored.
        try refused({ $0[directory + 10] = 8 }, "entry 'archive/data.pkl': the local header at offset 0 says compression method 0, the central directory says 8")
        // One entry fewer than the directory holds.
        try refused({ $0[end + 10] = 3 }, "the central directory at offset \(directory) declares \(end - directory) bytes, but its 3 entries take \(end - directory - 46 - "archive/version".utf8.count)")
        // No end record at all.
        try refused({ $0[end + 3] = 0 }, "no end-of-central-directory record (PK 05 06) in the last \(valid.count) bytes")
    }

    @Test func duplicateEntriesAreRefused() throws {
        // Two different "archive/data/0": which one a reader picks decides the weights.
        var entries = checkpointEntries()
        entries.append(ZipEntry(name: "archive/data/0", bytes: floats(sixFloats.map { -$0 })))
        let storage = try load(zip(entries))
        expectRefused(storage, mentioning: ["archive/data/0"])

        // Two "archive/data.pkl" with the same name.
        var pickles = checkpointEntries()
        pickles.insert(ZipEntry(name: "archive/data.pkl", bytes: validPickle), at: 1)
        let outcome = try load(zip(pickles))
        #expect(outcome.error == .invalidZip(file: "hostile.pth", reason: "entry 'archive/data.pkl' appears more than once"))
        expectRefused(outcome, mentioning: ["data.pkl"])
    }

    @Test func sizesThatLieAreRefused() throws {
        // Both headers claim far more storage bytes than the archive holds (and than the pickle says):
        // a stored entry's bytes must lie before the central directory.
        var longer = checkpointEntries()
        longer[2].declaredSize = 1 << 20
        let pastTheDirectory = try load(zip(longer))
        guard case .invalidZip(file: "hostile.pth", _) = pastTheDirectory.error else {
            Issue.record("a stored entry longer than the archive gave \(String(describing: pastTheDirectory.error))")
            return
        }
        expectRefused(pastTheDirectory, mentioning: ["entry 'archive/data/0'", "1048576 bytes of data", "run past the central directory"])

        // Deflated, the same claim fits the archive (24 compressed bytes) and the importer refuses
        // it by the size the pickle expects, before inflating anything.
        var inflating = checkpointEntries()
        inflating[2].method = 8
        inflating[2].declaredSize = 1 << 20
        let outcome = try load(zip(inflating))
        #expect(outcome.error?.root == .storageSizeMismatch(key: "w", storage: "0", expectedBytes: 24, foundBytes: 1 << 20))
        expectRefused(outcome, mentioning: ["storage '0'", "1048576"])

        // The headers claim exactly what the pickle expects, but the bytes are not there (so they
        // would run past the central directory).
        let bigPickle = dictPickle([("w", tensor(storage: "0", numel: 1 << 18, size: [2, 3], stride: [3, 1]))])
        var missingBytes = checkpointEntries(pickle: bigPickle)
        missingBytes[2].declaredSize = 4 << 18
        let short = try load(zip(missingBytes))
        guard case .invalidZip(file: "hostile.pth", _) = short.error?.root else {
            Issue.record("a storage whose bytes are missing gave \(String(describing: short.error))")
            return
        }
        expectRefused(short, mentioning: ["archive/data/0"])

        // The central directory and the local header disagree about the same entry.
        var disagreeing = checkpointEntries()
        disagreeing[2].centralSize = 28
        let disagreement = try load(zip(disagreeing))
        #expect(disagreement.error?.root == .storageSizeMismatch(key: "w", storage: "0", expectedBytes: 24, foundBytes: 28))
        expectRefused(disagreement, mentioning: ["hostile.pth", "storage '0'"])

        // data.pkl declares 4 GiB - 1 bytes. Stored, that runs past the central directory.
        var hugeStored = checkpointEntries()
        hugeStored[0].declaredSize = UInt32.max
        let hugeStoredOutcome = try load(zip(hugeStored))
        guard case .invalidZip(file: "hostile.pth", _) = hugeStoredOutcome.error else {
            Issue.record("a stored 4 GiB data.pkl gave \(String(describing: hugeStoredOutcome.error))")
            return
        }
        expectRefused(hugeStoredOutcome, mentioning: ["entry 'archive/data.pkl'", "4294967295 bytes of data"])

        // Deflated (a bomb's shape): refused by size before anything is read.
        var hugePickle = checkpointEntries()
        hugePickle[0].method = 8
        hugePickle[0].declaredSize = UInt32.max
        let huge = try load(zip(hugePickle))
        #expect(huge.error?.root == .entryTooLarge(
            file: "hostile.pth", entry: "archive/data.pkl", size: UInt64(UInt32.max), limit: 256 << 20))
        expectRefused(huge, mentioning: ["archive/data.pkl", "4294967295 bytes"])

        // Headers claiming fewer bytes than the entry has: the storage is then too short for "w".
        var shorter = checkpointEntries()
        shorter[2].declaredSize = 20
        let truncated = try load(zip(shorter))
        #expect(truncated.error?.root == .storageSizeMismatch(key: "w", storage: "0", expectedBytes: 24, foundBytes: 20))
        expectRefused(truncated, mentioning: ["hostile.pth", "storage '0'"])
    }

    // MARK: Pickle semantics

    @Test func reduceOfAnythingButATensorRebuildIsNeverATensor() throws {
        let cases: [(name: String, value: [UInt8])] = [
            // REDUCE on a string naming a function: recorded, never looked up.
            ("string callable", text("posix.system") + tuple([text("touch \(pwnedMarker)")]) + [Op.reduce]),
            // REDUCE on an allowlisted class that is not a tensor rebuild.
            ("torch.device", global("torch", "device") + tuple([text("cpu")]) + [Op.reduce]),
            ("storage class", global("torch", "FloatStorage") + tuple([int(6)]) + [Op.reduce]),
            // OrderedDict with arguments (only the empty call becomes a dict).
            ("OrderedDict(args)", global("collections", "OrderedDict") + tuple([tuple([])]) + [Op.reduce]),
            // REDUCE of a REDUCE result.
            ("reduce of reduce", global("torch", "device") + tuple([text("cpu")]) + [Op.reduce] + tuple([]) + [Op.reduce]),
        ]
        for hostile in cases {
            let pickle = dictPickle([("w", tensor(storage: "0", numel: 6, size: [2, 3], stride: [3, 1])), ("x", hostile.value)])
            let outcome = try load(zip(checkpointEntries(pickle: pickle)))
            #expect(outcome.error?.root == .noStateDict(file: "hostile.pth", topLevelKeys: ["w", "x"]), "\(hostile.name): \(String(describing: outcome.error))")
            expectRefused(outcome, mentioning: ["no state dict"])
        }

        // _rebuild_parameter must wrap a real _rebuild_tensor_v2, not some other call.
        let fakeParameter = global("torch._utils", "_rebuild_parameter")
            + tuple([global("torch", "device") + tuple([text("cpu")]) + [Op.reduce], [Op.newFalse], global("collections", "OrderedDict") + [Op.emptyTuple, Op.reduce]])
            + [Op.reduce]
        let outcome = try load(zip(checkpointEntries(pickle: dictPickle([("w", fakeParameter)]))))
        guard case .malformedTensor(key: "w", _) = outcome.error?.root else {
            Issue.record("a parameter wrapping torch.device gave \(String(describing: outcome.error))")
            return
        }
        expectRefused(outcome, mentioning: ["tensor 'w'", "_rebuild_parameter"])
    }

    @Test func badMemoReferencesAreRefusedWithTheirOffset() throws {
        // LONG_BINGET of the largest index, at offset 2.
        #expect(throws: ImportError.pickleBadMemoIndex(index: Int(UInt32.max), offset: 2)) {
            try Unpickler.parse([Op.proto, 2, Op.longBinGet, 0xFF, 0xFF, 0xFF, 0xFF, Op.stop])
        }
        // BINGET of a slot stored only later in the stream.
        #expect(throws: ImportError.pickleBadMemoIndex(index: 1, offset: 3)) {
            try Unpickler.parse([Op.proto, 2, Op.none, Op.binGet, 1, Op.binPut, 1, Op.stop])
        }
        // Inside a checkpoint, the error also names the file and the entry.
        let pickle: [UInt8] = [[Op.proto, 2, Op.emptyDict], text("w"), [Op.binGet, 9], [Op.setItem, Op.stop]].flatMap { $0 }
        let outcome = try load(zip(checkpointEntries(pickle: pickle)))
        #expect(outcome.error?.root == .pickleBadMemoIndex(index: 9, offset: 9))
        expectRefused(outcome, mentioning: ["hostile.pth", "archive/data.pkl", "memo slot 9", "offset 9"])
    }

    @Test(arguments: ["tuple1", "dict", "reduce", "build", "list"])
    func deepNestingIsRefusedWithoutExhaustingTheStack(kind: String) throws {
        // 100 000 levels: far past the limit, and deep enough to overflow the stack of any
        // recursive reader that did not stop at the limit.
        let depth = 100_000
        var body: [UInt8] = [Op.none]
        var prefix: [UInt8] = []
        switch kind {
        case "tuple1":
            body += [UInt8](repeating: Op.tuple1, count: depth)
        case "dict":
            // {"k": {"k": ... None}}: open every dict first, then close them with SETITEM.
            prefix = (0..<depth).flatMap { _ in [Op.emptyDict] + text("k") }
            body += [UInt8](repeating: Op.setItem, count: depth)
        case "reduce":
            // device(device(...(None)...)): REDUCE nesting through the argument tuples.
            prefix = (0..<depth).flatMap { _ in global("torch", "device") + [Op.mark] }
            body += (0..<depth).flatMap { _ in [Op.tuple, Op.reduce] }
        case "build":
            // BUILD(d1, BUILD(d2, ... BUILD(dn, None))): each BUILD's state is the one before.
            prefix = [UInt8](repeating: Op.emptyDict, count: depth)
            body += [UInt8](repeating: Op.build, count: depth)
        default:
            prefix = [UInt8](repeating: Op.emptyList, count: depth)
            body = [UInt8](repeating: Op.append, count: depth - 1)
        }
        let pickle = [Op.proto, 2] + prefix + body + [Op.stop]
        do {
            _ = try Unpickler.parse(pickle)
            Issue.record("\(kind): \(depth) levels were accepted")
        } catch {
            guard case .pickleNestingTooDeep(let limit, _) = error else {
                Issue.record("\(kind): expected pickleNestingTooDeep, got \(error)")
                return
            }
            #expect(limit == Unpickler.maxNesting)
        }
        let outcome = try load(zip(checkpointEntries(pickle: pickle)))
        expectRefused(outcome, mentioning: ["archive/data.pkl", "deeper than \(Unpickler.maxNesting)"])
    }

    // MARK: Views and storages

    @Test func nonFiniteStoragesAreRefusedNamingTheTensor() throws {
        // Element 4 of w's six floats is NaN: no int8 scale holds it, so the import stops there.
        let outcome = try load(zip(checkpointEntries(storage: floats([-1, -0.5, 0, 0.5, .nan, 1.5]))))
        guard case .nonFiniteValue(file: "hostile.pth", key: "w", index: 4, let value) = outcome.error, value.isNaN else {
            Issue.record("a NaN weight gave \(String(describing: outcome.error))")
            return
        }
        expectRefused(outcome, mentioning: ["tensor 'w'", "index 4"])
    }

    @Test func viewsReachingPastTheirStorageAreRefused() throws {
        let cases: [(name: String, tensor: [UInt8], expected: ImportError)] = [
            // A stride that walks past the end: element (1, 2) is storage index 1·4 + 2 = 6 of 6.
            ("stride", tensor(storage: "0", numel: 6, size: [2, 3], stride: [4, 1]),
             .tensorOutOfBounds(key: "w", storage: "0", lastIndex: 6, storageCount: 6)),
            // An offset at the very end of the storage.
            ("offset", tensor(storage: "0", numel: 6, offset: 6, size: [1], stride: [1]),
             .tensorOutOfBounds(key: "w", storage: "0", lastIndex: 6, storageCount: 6)),
            // A huge extent with a large stride: (2^31 - 2) · 2^31 - 1 is still inside Int64.
            ("huge", tensor(storage: "0", numel: 6, size: [Int32.max, 2], stride: [Int32.max, 1]),
             .tensorOutOfBounds(key: "w", storage: "0", lastIndex: Int(Int32.max - 1) * Int(Int32.max) + 1, storageCount: 6)),
        ]
        for hostile in cases {
            let outcome = try load(zip(checkpointEntries(pickle: dictPickle([("w", hostile.tensor)]))))
            #expect(outcome.error?.root == hostile.expected, "\(hostile.name): \(String(describing: outcome.error))")
            expectRefused(outcome, mentioning: ["tensor 'w'", "storage '0'"])
        }

        // Stride 0 keeps every index in bounds, but a [4096, 4096] broadcast of 6 floats would
        // materialize 64 MiB from 24 bytes.
        let broadcast = tensor(storage: "0", numel: 6, size: [4096, 4096], stride: [0, 0])
        let outcome = try load(zip(checkpointEntries(pickle: dictPickle([("w", broadcast)]))))
        guard case .malformedTensor(key: "w", _) = outcome.error?.root else {
            Issue.record("a stride-0 broadcast gave \(String(describing: outcome.error))")
            return
        }
        expectRefused(outcome, mentioning: ["tensor 'w'", "more elements than its storage"])
    }
}
