import Foundation
import Testing
import WrenConvert
import WrenNetwork

// MARK: Helpers

/// `tiny/data.pkl` of `torch.save(d, "tiny.pth")` (torch 2.15, pickle protocol 2) for
/// f = (arange(6, float32) * 0.5 - 1).view(2, 3);
/// d = {"f": f, "t": f.t(), "h": tensor([0.5, -1.25, 65504], float16), "b": tensor([0.5, -1.25], bfloat16),
///      "d": tensor([1.5, -2.0], float64), "n": tensor(7), "p": nn.Parameter(tensor([2.0, 3.0]))}.
/// "f" and "t" share storage "0"; "t" has stride (1, 3); "p" goes through `_rebuild_parameter`.
private let tinyPickle = ImportFixtures.bytes(fromHex: "80027d710028580100000066710163746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71022828580700000073746f72616765710363746f7263680a466c6f617453746f726167650a71045801000000307105580300000063707571064b06747107514b004b024b038671084b034b018671098963636f6c6c656374696f6e730a4f726465726564446963740a710a2952710b74710c52710d580100000074710e6802282868036804680568064b0674710f514b004b034b028671104b014b0386711189680a29527112747113527114580100000068711568022828680363746f7263680a48616c6653746f726167650a7116580100000031711768064b03747118514b004b038571194b0185711a89680a2952711b74711c52711d580100000062711e68022828680363746f7263680a42466c6f6174313653746f726167650a711f580100000032712068064b02747121514b004b028571224b0185712389680a29527124747125527126580100000064712768022828680363746f7263680a446f75626c6553746f726167650a7128580100000033712968064b0274712a514b004b0285712b4b0185712c89680a2952712d74712e52712f58010000006e713068022828680363746f7263680a4c6f6e6753746f726167650a7131580100000034713268064b01747133514b00292989680a29527134747135527136580100000070713763746f7263682e5f7574696c730a5f72656275696c645f706172616d657465720a71386802282868036804580100000035713968064b0274713a514b004b0285713b4b0185713c89680a2952713d74713e52713f88680a29527140877141527142752e")
/// The storages torch wrote beside it, little-endian, in element order.
private let tinyStorages: [(key: String, elementSize: Int, hex: String)] = [
    ("0", 4, "000080bf000000bf000000000000003f0000803f0000c03f"),
    ("1", 2, "003800bdff7b"),
    ("2", 2, "003fa0bf"),
    ("3", 8, "000000000000f83f00000000000000c0"),
    ("4", 8, "0700000000000000"),
    ("5", 4, "0000004000004040"),
]
/// Byte offsets inside `tinyPickle` of operands the negative tests patch (from `pickletools.dis`).
private let tinyNumelOfStorage0 = [106, 186]  // BININT1 6 in both persistent ids of storage "0"
private let tinyOffsetOfF = 112  // BININT1 0: storage offset of "f"

private func tinyCheckpoint(
    pickle: [UInt8] = tinyPickle, byteOrder: String? = "little", bigEndian: Bool = false,
    storage0: [UInt8]? = nil, dropStorage: String? = nil
) -> [UInt8] {
    var entries: [(name: String, bytes: [UInt8])] = [("tiny/data.pkl", pickle)]
    if let byteOrder { entries.append(("tiny/byteorder", Array(byteOrder.utf8))) }
    for storage in tinyStorages where storage.key != dropStorage {
        var bytes = ImportFixtures.bytes(fromHex: storage.hex)
        if storage.key == "0", let storage0 { bytes = storage0 }
        if bigEndian {
            bytes = stride(from: 0, to: bytes.count, by: storage.elementSize)
                .flatMap { bytes[$0..<($0 + storage.elementSize)].reversed() }
        }
        entries.append(("tiny/data/\(storage.key)", bytes))
    }
    entries.append(("tiny/version", Array("3\n".utf8)))
    return ImportFixtures.storedZip(entries)
}

private func expectTinyTensors(_ tensors: [String: FloatTensor]) {
    #expect(tensors["f"] == FloatTensor(shape: [2, 3], data: [-1, -0.5, 0, 0.5, 1, 1.5]))
    #expect(tensors["t"] == FloatTensor(shape: [3, 2], data: [-1, 0.5, -0.5, 1, 0, 1.5]))
    #expect(tensors["h"] == FloatTensor(shape: [3], data: [0.5, -1.25, 65504]))
    #expect(tensors["b"] == FloatTensor(shape: [2], data: [0.5, -1.25]))
    #expect(tensors["d"] == FloatTensor(shape: [2], data: [1.5, -2]))
    #expect(tensors["p"] == FloatTensor(shape: [2], data: [2, 3]))
    #expect(tensors["n"] == nil, "int64 tensors stay out of the float map")
    #expect(tensors.count == 6)
}

/// Whole-file checkpoint import: fixtures from torch, hostile files, hand-corrupted archives.
@Suite struct ImportTests {
    // MARK: Fixture models written by tools/make_fixtures.py

    @Test func everyFixtureModelMatchesTorch() throws {
        let manifestData = try Data(contentsOf: ImportFixtures.models.appendingPathComponent("manifest.json"))
        let manifest = try #require(try JSONSerialization.jsonObject(with: manifestData) as? [[String: Any]])
        #expect(manifest.count >= 6)
        for model in manifest {
            let file = try #require(model["file"] as? String)
            let tensorsFile = try #require(model["tensors"] as? String)
            let checkpoint = try CheckpointLoader.load(path: ImportFixtures.models.appendingPathComponent(file).path)
            #expect(checkpoint.sourceName == file)
            let expectedData = try Data(contentsOf: ImportFixtures.models.appendingPathComponent(tensorsFile))
            let expected = try #require(try JSONSerialization.jsonObject(with: expectedData) as? [String: [String: Any]])
            var floatKeys = 0
            for (key, reference) in expected {
                let dtype = try #require(reference["dtype"] as? String)
                guard dtype.hasPrefix("float") || dtype == "bfloat16" else {
                    #expect(checkpoint.tensors[key] == nil, "\(file): integer tensor \(key) should be left out")
                    continue
                }
                floatKeys += 1
                guard let tensor = checkpoint.tensors[key] else {
                    Issue.record("\(file): missing tensor \(key)")
                    continue
                }
                #expect(tensor.shape == (reference["shape"] as? [Int]), "\(file): \(key) shape")
                let sum = tensor.data.reduce(0.0) { $0 + Double($1) }
                let expectedSum = try #require(reference["sum"] as? Double)
                #expect(abs(sum - expectedSum) <= 1e-5 * max(abs(expectedSum), 1e-3), "\(file): \(key) sum \(sum) vs \(expectedSum)")
                let first = try #require(reference["first"] as? [Double])
                #expect(Array(tensor.data.prefix(first.count)) == first.map { Float($0) }, "\(file): \(key) first values")
            }
            #expect(checkpoint.tensors.count == floatKeys, "\(file): unexpected extra tensors")
        }
    }

    @Test func trainingCheckpointYieldsOnlyTheModelStateDict() throws {
        let checkpoint = try CheckpointLoader.load(path: ImportFixtures.models.appendingPathComponent("wrn16_1_c100_train.pth").path)
        #expect(checkpoint.tensors["fc.weight"]?.shape == [100, 64])
        #expect(checkpoint.tensors["conv1.weight"]?.shape == [16, 3, 3, 3])
        // The SGD momentum buffers live under 'optimizer' and must not leak in.
        #expect(checkpoint.tensors.keys.allSatisfy { $0.hasPrefix("conv1.") || $0.hasPrefix("block") || $0.hasPrefix("bn1.") || $0.hasPrefix("fc.") })
    }

    @Test func dataParallelPrefixIsStripped() throws {
        let checkpoint = try CheckpointLoader.load(path: ImportFixtures.models.appendingPathComponent("wrn10_2_c10_module.pth").path)
        #expect(!checkpoint.tensors.isEmpty)
        #expect(checkpoint.tensors.keys.allSatisfy { !$0.hasPrefix("module.") })
        #expect(checkpoint.tensors["block1.layer.0.convShortcut.weight"]?.shape == [32, 16, 1, 1])
    }

    @Test func checkpointDigestIsTheFileSHA256() throws {
        let path = ImportFixtures.models.appendingPathComponent("wrn10_1_c10.pth").path
        let checkpoint = try CheckpointLoader.load(path: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(checkpoint.sha256 == sha256Hex(bytes))
        #expect(checkpoint.sha256.count == 64)
    }

    // MARK: Hostile and unsupported files (tools/make_hostile_fixtures.py)

    @Test func hostilePicklesAreRefusedWithoutRunningAnything() throws {
        let marker = "/tmp/wren_pwned"
        try? FileManager.default.removeItem(atPath: marker)
        let cases: [(file: String, module: String, name: String, offset: Int)] = [
            ("os_system.pkl", "posix", "system", 2),
            ("eval_builtin.pkl", "builtins", "eval", 2),
        ]
        for hostile in cases {
            let bytes = [UInt8](try Data(contentsOf: ImportFixtures.hostile.appendingPathComponent(hostile.file)))
            #expect(throws: ImportError.pickleGlobalNotAllowed(module: hostile.module, name: hostile.name, offset: hostile.offset)) {
                try Unpickler.parse(bytes)
            }
            // Through the loader a bare pickle is read as a PaddlePaddle checkpoint, by the same
            // restricted unpickler: the global is refused by name, in the named file, and nothing runs.
            let error = loadError(ImportFixtures.hostile.appendingPathComponent(hostile.file).path)
            #expect(error == .inFile(file: hostile.file, entry: nil,
                                     underlying: .pickleGlobalNotAllowed(module: hostile.module, name: hostile.name, offset: hostile.offset)))
            #expect(error?.description.contains(hostile.file) == true)
        }

        let error = try #require(loadError(ImportFixtures.hostile.appendingPathComponent("os_system.pth").path))
        #expect(error.root == .pickleGlobalNotAllowed(module: "posix", name: "system", offset: 201))
        #expect(error.description.contains("os_system.pth"))
        #expect(error.description.contains("archive/data.pkl"))
        #expect(error.description.contains("global 'posix.system' is not allowed (offset 201)"))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func legacyTorchFormatGetsTheResaveAdvice() {
        let error = loadError(ImportFixtures.hostile.appendingPathComponent("legacy_format.pth").path)
        #expect(error == .legacyTorchFormat(file: "legacy_format.pth"))
        #expect(error?.description.contains(
            "legacy (pre-1.6) torch.save format: re-save with torch.save(..., _use_new_zipfile_serialization=True)") == true)
    }

    @Test func filesThatAreNotCheckpointsAreNamed() throws {
        #expect(loadError("/nonexistent/wren/model.pth").map { if case .unreadableFile = $0 { true } else { false } } == true)

        let text = try ImportFixtures.temporaryFile(named: "notes.pth", bytes: Array("hello, world".utf8))
        #expect(loadError(text) == .unrecognizedFormat(file: "notes.pth", firstBytes: "68 65 6c 6c 6f 2c 20 77"))

        let brokenZip = try ImportFixtures.temporaryFile(named: "broken.pth", bytes: [0x50, 0x4B, 0x03, 0x04] + [UInt8](repeating: 7, count: 60))
        #expect(loadError(brokenZip).map { if case .invalidZip(file: "broken.pth", _) = $0 { true } else { false } } == true)

        let noPickle = try ImportFixtures.temporaryFile(
            named: "nopickle.pth", bytes: ImportFixtures.storedZip([("tiny/version", Array("3\n".utf8))]))
        #expect(loadError(noPickle) == .missingDataPickle(file: "nopickle.pth", entries: ["tiny/version"]))

        let twoPickles = try ImportFixtures.temporaryFile(
            named: "two.pth", bytes: ImportFixtures.storedZip([("a/data.pkl", tinyPickle), ("b/data.pkl", tinyPickle)]))
        #expect(loadError(twoPickles) == .ambiguousDataPickle(file: "two.pth", candidates: ["a/data.pkl", "b/data.pkl"]))
    }

    // MARK: A tiny checkpoint assembled from torch's own bytes

    @Test func tinyCheckpointCoversDtypesViewsAndParameters() throws {
        let bytes = tinyCheckpoint()
        let path = try ImportFixtures.temporaryFile(named: "tiny.pth", bytes: bytes)
        let checkpoint = try CheckpointLoader.load(path: path)
        expectTinyTensors(checkpoint.tensors)
        #expect(checkpoint.sourceName == "tiny.pth")
        #expect(checkpoint.sha256 == sha256Hex(bytes))
    }

    @Test func bigEndianByteOrderIsHonoured() throws {
        let path = try ImportFixtures.temporaryFile(named: "tiny-be.pth", bytes: tinyCheckpoint(byteOrder: "big", bigEndian: true))
        expectTinyTensors(try CheckpointLoader.load(path: path).tensors)
        // Without a byteorder entry the storages are little-endian, as torch wrote before it had one.
        let noOrder = try ImportFixtures.temporaryFile(named: "tiny-noorder.pth", bytes: tinyCheckpoint(byteOrder: nil))
        expectTinyTensors(try CheckpointLoader.load(path: noOrder).tensors)
        let weird = try ImportFixtures.temporaryFile(named: "tiny-weird.pth", bytes: tinyCheckpoint(byteOrder: "middle"))
        #expect(loadError(weird) == .unsupportedByteOrder(file: "tiny-weird.pth", value: "middle"))
    }

    @Test func truncatedDataPickleIsAnErrorAtEveryCut() throws {
        for length in stride(from: 0, to: tinyPickle.count, by: 3) {
            let path = try ImportFixtures.temporaryFile(
                named: "cut\(length).pth", bytes: tinyCheckpoint(pickle: Array(tinyPickle[..<length])))
            let error = loadError(path)
            #expect(error?.root == .pickleTruncated(offset: length) || error.map { if case .pickleTruncated = $0.root { true } else { false } } == true,
                    "cut at \(length): \(String(describing: error))")
            #expect(error?.description.contains("tiny/data.pkl") == true)
        }
    }

    @Test func storageShorterThanItsViewIsRejected() throws {
        // Storage "0" says 5 elements and holds 5, but "f" is a [2, 3] view reaching element 5.
        var pickle = tinyPickle
        for offset in tinyNumelOfStorage0 { pickle[offset] = 5 }
        let shortStorage = Array(ImportFixtures.bytes(fromHex: tinyStorages[0].hex).prefix(20))
        let short = try ImportFixtures.temporaryFile(named: "short.pth", bytes: tinyCheckpoint(pickle: pickle, storage0: shortStorage))
        #expect(loadError(short)?.root == .tensorOutOfBounds(key: "f", storage: "0", lastIndex: 5, storageCount: 5))

        // Storage offset 1 pushes the same view one element past the end.
        var shifted = tinyPickle
        shifted[tinyOffsetOfF] = 1
        let shiftedPath = try ImportFixtures.temporaryFile(named: "shifted.pth", bytes: tinyCheckpoint(pickle: shifted))
        #expect(loadError(shiftedPath)?.root == .tensorOutOfBounds(key: "f", storage: "0", lastIndex: 6, storageCount: 6))

        // The pickle says 6 floats (24 bytes) but the entry holds 20.
        let mismatch = try ImportFixtures.temporaryFile(named: "mismatch.pth", bytes: tinyCheckpoint(storage0: shortStorage))
        #expect(loadError(mismatch)?.root == .storageSizeMismatch(key: "f", storage: "0", expectedBytes: 24, foundBytes: 20))

        // "t" claims storage "0" holds 7 floats while "f" (read first) said 6 and the entry has 24 bytes.
        var disagreeing = tinyPickle
        disagreeing[tinyNumelOfStorage0[1]] = 7
        let disagreeingPath = try ImportFixtures.temporaryFile(named: "disagree.pth", bytes: tinyCheckpoint(pickle: disagreeing))
        #expect(loadError(disagreeingPath)?.root == .storageSizeMismatch(key: "t", storage: "0", expectedBytes: 28, foundBytes: 24))

        // A storage entry missing altogether.
        let missing = try ImportFixtures.temporaryFile(named: "missing.pth", bytes: tinyCheckpoint(dropStorage: "2"))
        #expect(loadError(missing) == .missingEntry(file: "missing.pth", entry: "tiny/data/2"))
    }

    @Test func corruptedStorageBytesFailTheZipChecksum() throws {
        var bytes = tinyCheckpoint()
        let storage0 = ImportFixtures.bytes(fromHex: tinyStorages[0].hex)
        let start = try #require((0...(bytes.count - storage0.count)).first { Array(bytes[$0..<($0 + storage0.count)]) == storage0 })
        bytes[start + 5] ^= 0x40  // one bit of "f"'s second value
        let path = try ImportFixtures.temporaryFile(named: "flipped.pth", bytes: bytes)
        let error = try #require(loadError(path))
        guard case .invalidZip(file: "flipped.pth", let reason) = error else {
            Issue.record("expected a zip checksum error, got \(error)")
            return
        }
        #expect(reason.contains("tiny/data/0"))
    }

    @Test func stateDictIsFoundUnderModelAndStateDict() throws {
        // {"model": {"state_dict": <tiny dict>}}: the tiny pickle's body between PROTO and STOP, wrapped.
        let body = Array(tinyPickle[2..<(tinyPickle.count - 1)])
        let nested: [UInt8] = [0x80, 0x02, 0x7D, 0x8C, 5] + Array("model".utf8) + [0x7D, 0x8C, 10] + Array("state_dict".utf8)
            + body + [0x73, 0x73, 0x2E]
        let path = try ImportFixtures.temporaryFile(named: "nested.pth", bytes: tinyCheckpoint(pickle: nested))
        expectTinyTensors(try CheckpointLoader.load(path: path).tensors)

        // {"epoch": 3}: no tensors anywhere.
        let epochOnly: [UInt8] = [0x80, 0x02, 0x7D, 0x8C, 5] + Array("epoch".utf8) + [0x4B, 3, 0x73, 0x2E]
        let epochPath = try ImportFixtures.temporaryFile(named: "epoch.pth", bytes: tinyCheckpoint(pickle: epochOnly))
        #expect(loadError(epochPath) == .noStateDict(file: "epoch.pth", topLevelKeys: ["epoch"]))
    }
}
