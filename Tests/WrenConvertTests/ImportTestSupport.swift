import Foundation
import Testing
import WrenConvert
import WrenCore
import WrenNetwork
import WrenReference

/// The top class of each row of `logits` (row-major, `classes` per row); the first on a tie.
func argmax(_ logits: [Float], classes: Int) -> [Int] {
    stride(from: 0, to: logits.count, by: classes).map { start in
        (start..<(start + classes)).max { logits[$0] < logits[$1] }! - start
    }
}

/// The typed error loading `path` throws, nil when it loads; any other error type is recorded.
func loadError(_ path: String) -> ImportError? {
    do {
        _ = try CheckpointLoader.load(path: path)
        return nil
    } catch let error as ImportError {
        return error
    } catch {
        Issue.record("non-ImportError thrown: \(error)")
        return nil
    }
}

/// One entry of a framework fixture folder's `manifest.json` (tools/make_paddle_fixtures.py,
/// tools/make_safetensors_fixtures.py): a checkpoint, inputs and the framework's own logits.
struct ParityFixture: Sendable, CustomStringConvertible {
    var folder: FixtureFolder
    var name, file, input, logits: String
    var architecture: WRNArchitecture
    var description: String { name }

    /// The manifest's entries; empty when it is missing or malformed (each suite asserts a count).
    static func manifest(in folder: FixtureFolder) -> [ParityFixture] {
        guard let data = try? folder.data("manifest.json"),
              let entries = (try? JSONSerialization.jsonObject(with: data)) as? [[String: Any]] else { return [] }
        return entries.compactMap { entry in
            guard let name = entry["name"] as? String, let file = entry["file"] as? String,
                  let input = entry["input"] as? String, let logits = entry["logits"] as? String,
                  let depth = entry["depth"] as? Int, let widen = entry["widen_factor"] as? Int,
                  let classes = entry["num_classes"] as? Int, let bias = entry["conv_bias"] as? Bool else { return nil }
            return ParityFixture(folder: folder, name: name, file: file, input: input, logits: logits,
                                 architecture: WRNArchitecture(depth: depth, widenFactor: widen, numClasses: classes, convBias: bias))
        }
    }

    /// The float reference on the imported weights reproduces the framework's eval-mode logits
    /// (max|Δ| ≤ 1e-4 · max|logit|), and infers the recorded architecture.
    func expectParity(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let checkpoint = try CheckpointLoader.load(path: folder.path(file))
        let model = try WideResNet(stateDict: checkpoint.tensors)
        #expect(model.architecture == architecture, sourceLocation: sourceLocation)
        let inputs = try NumpyArray.read(path: folder.path(input))
        let expected = try NumpyArray.read(path: folder.path(logits)).floats()
        let got = try model.forward(try inputs.floats(), batch: inputs.shape[0])
        try #require(got.count == expected.count, sourceLocation: sourceLocation)
        let scale = expected.map(abs).max() ?? 0
        let difference = zip(got, expected).map { abs($0 - $1) }.max() ?? .infinity
        #expect(scale > 0, sourceLocation: sourceLocation)
        #expect(difference <= 1e-4 * scale, "\(name): max|Δ| \(difference), max|logit| \(scale)", sourceLocation: sourceLocation)
    }
}

/// One folder under `fixtures/`: paths and contents of the files in it.
struct FixtureFolder: Sendable {
    var url: URL

    func path(_ file: String) -> String { url.appendingPathComponent(file).path }
    func data(_ file: String) throws -> Data { try Data(contentsOf: url.appendingPathComponent(file)) }
    func bytes(_ file: String) throws -> [UInt8] { [UInt8](try data(file)) }
}

/// Paths and scratch files for the checkpoint-import tests.
enum ImportFixtures {
    /// The repository root, found from this file's location (Tests/WrenConvertTests/...): the one
    /// place the WrenConvert tests locate fixtures from.
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `fixtures/<name>` in the repository.
    static func folder(_ name: String) -> FixtureFolder {
        FixtureFolder(url: repoRoot.appendingPathComponent("fixtures").appendingPathComponent(name))
    }

    static let models = folder("models").url
    static let hostile = folder("hostile").url

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

/// The WRN-16-2 trained on scikit-learn's digits (tools/train_digits.py, fixtures/digits): its
/// checkpoint, 200 calibration images and 360 labelled test images, read once per test run; and
/// its min/max conversion (per-channel weights, labels "digit 0" ... "digit 9"), done once.
struct DigitsFixture: Sendable {
    static let folder = ImportFixtures.folder("digits")
    static let classes = 10

    var checkpoint: Checkpoint
    /// Normalized NCHW float32 images, 3 x 32 x 32 each.
    var calibration: [Float]
    var calibrationCount: Int
    var testInputs: [Float]
    var testLabels: [Int]
    var testCount: Int

    struct Converted: Sendable {
        var model: WrenModel
        var reference: WideResNet
    }

    private static let cached: Result<DigitsFixture, any Error> = Result {
        let calibration = try NumpyArray.read(path: folder.path("calib_x.npy"))
        let testX = try NumpyArray.read(path: folder.path("test_x.npy"))
        let testY = try NumpyArray.read(path: folder.path("test_y.npy")).int64s()
        return DigitsFixture(
            checkpoint: try CheckpointLoader.load(path: folder.path("wrn16_2_digits.pth")),
            calibration: try calibration.floats(), calibrationCount: calibration.shape[0],
            testInputs: try testX.floats(), testLabels: testY.map { Int($0) }, testCount: testX.shape[0])
    }

    private static let cachedMinMax: Result<Converted, any Error> = Result {
        let digits = try loaded()
        var options = ConversionOptions()
        options.labels = (0..<classes).map { "digit \($0)" }
        let converted = try Converter.convert(
            checkpoint: digits.checkpoint, calibration: digits.calibration, count: digits.calibrationCount, options: options)
        return Converted(model: try WrenModel(bytes: converted.bytes), reference: converted.reference)
    }

    static func loaded() throws -> DigitsFixture { try cached.get() }
    static func minMax() throws -> Converted { try cachedMinMax.get() }

    /// The first `count` test images and their labels.
    func test(prefix count: Int) -> (inputs: [Float], labels: [Int]) {
        (Array(testInputs.prefix(count * 3 * 32 * 32)), Array(testLabels.prefix(count)))
    }
}
