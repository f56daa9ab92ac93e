import Foundation
import Testing
@testable import WrenConvert
import WrenNetwork

/// `SafetensorsWriter`: byte-identical to `safetensors.torch.save_file` on files that package
/// wrote, read back by Wren's own reader, the reader's layout rules held, and typed refusals.
@Suite struct SafetensorsWriterTests {
    /// Files written by the safetensors package (0.8.0): tools/make_safetensors_fixtures.py and
    /// tools/make_optimizer_fixtures.py (a header that needs padding; a name JSON must escape).
    static let packageFiles = [
        "safetensors/wrn16_2_c10.safetensors",
        "safetensors/wrn10_1_c4_paddle.safetensors",
        "training/optimizers/safetensors_writer_reference.safetensors",
        "training/optimizers/safetensors_escaped_name.safetensors",
    ]

    static func fixture(_ relative: String) -> String {
        ImportFixtures.repoRoot.appendingPathComponent("fixtures").appendingPathComponent(relative).path
    }

    /// The tensors of a safetensors file, in file order, decoded from their bytes independently
    /// of `SafetensorsCheckpoint.floatTensors` (which converts to Float and leaves out integers).
    static func tensors(in bytes: [UInt8], fileName: String) throws -> (tensors: [SafetensorsTensor], metadata: [String: String]) {
        let layout = try SafetensorsCheckpoint.readHeader(bytes, fileName: fileName)
        func words<T: FixedWidthInteger>(_ entry: SafetensorsCheckpoint.Entry, as: T.Type) -> [T] {
            stride(from: layout.dataStart + entry.begin, to: layout.dataStart + entry.end, by: MemoryLayout<T>.size).map { start in
                (0..<MemoryLayout<T>.size).reduce(T.zero) { $0 | T(bytes[start + $1]) << (8 * $1) }
            }
        }
        let tensors = try layout.entries.map { entry -> SafetensorsTensor in
            switch entry.dtype {
            case "F32": return .float32(entry.key, shape: entry.shape, words(entry, as: UInt32.self).map(Float.init(bitPattern:)))
            case "F64": return .float64(entry.key, shape: entry.shape, words(entry, as: UInt64.self).map(Double.init(bitPattern:)))
            case "I64": return .int64(entry.key, shape: entry.shape, words(entry, as: UInt64.self).map { Int64(bitPattern: $0) })
            default: throw SafetensorsError.unsupportedDType(file: fileName, key: entry.key, dtype: entry.dtype)
            }
        }
        return (tensors, layout.metadata)
    }

    @Test(arguments: packageFiles)
    func sameBytesAsTheSafetensorsPackage(_ file: String) throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.fixture(file))))
        let (tensors, metadata) = try Self.tensors(in: original, fileName: file)
        #expect(!tensors.isEmpty)
        let written = try SafetensorsWriter.encode(tensors, metadata: metadata)
        #expect(written.count == original.count)
        #expect(written == original, "first difference at byte \(zip(written, original).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(written.count, original.count))")
    }

    @Test func thePaddedFixtureReallyNeedsPadding() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.fixture(Self.packageFiles[2]))))
        let length = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        #expect(bytes[8 + length - 1] == UInt8(ascii: " "))
        #expect(try Self.tensors(in: bytes, fileName: "x").tensors.contains { $0.dtype == "I64" && $0.shape == [] })
    }

    static let sample: [SafetensorsTensor] = [
        .float32("conv1.weight", shape: [2, 3, 1, 1], [1.5, -2, 0.25, .leastNonzeroMagnitude, -.greatestFiniteMagnitude, -0.0]),
        .float32("bn1.running_var", shape: [2], [1, 3]),
        .int64("bn1.num_batches_tracked", shape: [], [12_345_678_901_234]),
        .float64("fc.weight", shape: [1, 2], [0.1, -1e300]),
        .float32("empty", shape: [0, 4], []),
        .float32("scalar", shape: [], [7]),
        .int64("counts", shape: [3], [-1, .max, .min]),
    ]

    @Test func readBackByWrensReader() throws {
        let bytes = try SafetensorsWriter.encode(Self.sample, metadata: ["format": "pt", "written_by": "wren"])
        let floats = try SafetensorsCheckpoint.floatTensors(bytes, fileName: "w.safetensors")
        #expect(floats["conv1.weight"] == FloatTensor(shape: [2, 3, 1, 1], data: [1.5, -2, 0.25, .leastNonzeroMagnitude, -.greatestFiniteMagnitude, -0.0]))
        #expect(floats["conv1.weight"]?.data.last?.sign == .minus)
        #expect(floats["bn1.running_var"] == FloatTensor(shape: [2], data: [1, 3]))
        #expect(floats["fc.weight"] == FloatTensor(shape: [1, 2], data: [Float(0.1), -.infinity]))  // the reader narrows F64 to Float
        #expect(floats["empty"] == FloatTensor(shape: [0, 4], data: []))
        #expect(floats["scalar"] == FloatTensor(shape: [], data: [7]))
        #expect(floats["bn1.num_batches_tracked"] == nil && floats["counts"] == nil, "the reader leaves integer tensors out")

        // So the integers (and the F64 values, unnarrowed) are checked from the bytes.
        let decoded = try Self.tensors(in: bytes, fileName: "w.safetensors")
        #expect(decoded.tensors == Self.sample)
        #expect(decoded.metadata == ["format": "pt", "written_by": "wren"])
        let layout = try SafetensorsCheckpoint.readHeader(bytes, fileName: "w")
        #expect(layout.entries.map(\.key) == Self.sample.map(\.name), "data in the order given")
        #expect(layout.entries.map(\.dtype) == ["F32", "F32", "I64", "F64", "F32", "F32", "I64"])
        #expect(layout.entries.first { $0.key == "bn1.num_batches_tracked" }.map { $0.end - $0.begin } == 8)
    }

    @Test func headerIsValidJSONInFileOrderAndPadded() throws {
        let bytes = try SafetensorsWriter.encode(Self.sample, metadata: ["b": "2", "a": "1"])
        let length = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        #expect(length % 8 == 0)
        let header = Array(bytes[8..<(8 + length)])
        let json = String(decoding: header, as: UTF8.self)
        let trimmed = json.replacingOccurrences(of: " +$", with: "", options: .regularExpression)
        #expect(json.count - trimmed.count < 8, "at most 7 spaces of padding")
        #expect(!trimmed.contains(" "), "no whitespace inside the JSON (names here have none)")
        #expect(trimmed.hasPrefix("{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\"},\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[2,3,1,1],\"data_offsets\":[0,24]},"))
        #expect(trimmed.contains("\"bn1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]}"))
        let object = try JSONSerialization.jsonObject(with: Data(header)) as? [String: Any]
        #expect(object?.count == Self.sample.count + 1)
        // Offsets tile the data: each begins where the previous ended, the last at the end of the file.
        var expected = 0
        for tensor in Self.sample {
            let offsets = (object?[tensor.name] as? [String: Any])?["data_offsets"] as? [Int]
            #expect(offsets?.first == expected, "\(tensor.name)")
            expected = offsets?.last ?? -1
        }
        #expect(8 + length + expected == bytes.count)
    }

    @Test func paddingIsTheRustRuleForEveryRemainder() throws {
        #expect(try SafetensorsWriter.encode([]) == [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
        var remainders = Set<Int>()
        for length in 0..<16 {
            let name = String(repeating: "n", count: length)
            let bytes = try SafetensorsWriter.encode([.float32(name, shape: [1], [1])])
            let json = "{\"\(name)\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
            let padding = (8 - json.utf8.count % 8) % 8
            remainders.insert(json.utf8.count % 8)
            #expect(bytes == [UInt8(json.utf8.count + padding), 0, 0, 0, 0, 0, 0, 0] + Array(json.utf8) + Array(repeating: 0x20, count: padding) + [0, 0, 0x80, 0x3F])
        }
        #expect(remainders.count == 8)
    }

    @Test func namesAreEscapedAsSerdeJSONDoes() throws {
        let name = "a\"b\\c\n\u{1}\u{1F}é/\t"
        let bytes = try SafetensorsWriter.encode([.float32(name, shape: [], [2])])
        #expect(bytes == [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.fixture(Self.packageFiles[3])))), "save_file's bytes for this name")
        let json = String(decoding: bytes[8...], as: UTF8.self)
        #expect(json.hasPrefix(#"{"a\"b\\c\n\u0001\u001fé/\t":{"#))
        #expect(try SafetensorsCheckpoint.floatTensors(bytes, fileName: "e")[name] == FloatTensor(shape: [], data: [2]))
        let length = Int(bytes[0])
        #expect((try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as? [String: Any])?.keys.first == name)
    }

    @Test func refusals() {
        #expect(throws: SafetensorsWriteError.duplicateName("w")) {
            _ = try SafetensorsWriter.encode([.float32("w", shape: [1], [1]), .int64("w", shape: [], [1])])
        }
        #expect(throws: SafetensorsWriteError.reservedName("__metadata__")) {
            _ = try SafetensorsWriter.encode([.float32("__metadata__", shape: [1], [1])])
        }
        #expect(throws: SafetensorsWriteError.elementCountMismatch(name: "w", shape: [2, 3], elements: 6, values: 5)) {
            _ = try SafetensorsWriter.encode([.float32("w", shape: [2, 3], [1, 2, 3, 4, 5])])
        }
        #expect(throws: SafetensorsWriteError.invalidShape(name: "w", shape: [2, -3])) {
            _ = try SafetensorsWriter.encode([.float32("w", shape: [2, -3], [])])
        }
        #expect(throws: SafetensorsWriteError.invalidShape(name: "w", shape: [Int.max, 2])) {
            _ = try SafetensorsWriter.encode([.float32("w", shape: [Int.max, 2], [])])
        }
        #expect(throws: SafetensorsWriteError.headerTooLarge(length: 56, limit: 55)) {
            _ = try SafetensorsWriter.encode([.float32("w", shape: [1], [1])], metadata: [:], maxHeaderLength: 55)
        }
        #expect(throws: Never.self) {  // the padded length itself is allowed
            _ = try SafetensorsWriter.encode([.float32("w", shape: [1], [1])], metadata: [:], maxHeaderLength: 56)
        }
        #expect(SafetensorsWriteError.reservedName("__metadata__").description == "a tensor cannot be named '__metadata__': safetensors reserves that key for the metadata")
    }

    @Test func writesAtomicallyAndNeverOverAnInput() throws {
        let scratch = try AtomicFileTests.Scratch()
        let source = Self.fixture(Self.packageFiles[0])
        let (tensors, metadata) = try Self.tensors(in: [UInt8](try Data(contentsOf: URL(fileURLWithPath: source))), fileName: "in")
        try scratch.create("model.safetensors", [1, 2, 3])
        try SafetensorsWriter.write(tensors, metadata: metadata, to: scratch.path("model.safetensors"), refusingToOverwrite: [source])
        #expect(try scratch.read("model.safetensors") == (try SafetensorsWriter.encode(tensors, metadata: metadata)))
        #expect(try scratch.entries() == ["model.safetensors"], "no temporary file left")
        // What `wren convert` loads from it is what it loads from the package's file.
        #expect(try CheckpointLoader.load(path: scratch.path("model.safetensors")).tensors == (try CheckpointLoader.load(path: source)).tensors)

        #expect(throws: SafetensorsWriteError.file(.destinationIsInput(destination: scratch.path("model.safetensors"), input: scratch.path("model.safetensors")))) {
            try SafetensorsWriter.write(tensors, to: scratch.path("model.safetensors"), refusingToOverwrite: [scratch.path("model.safetensors")])
        }
        #expect(throws: SafetensorsWriteError.file(.directoryMissing(directory: scratch.path("missing"), destination: scratch.path("missing/m.safetensors")))) {
            try SafetensorsWriter.write(tensors, to: scratch.path("missing/m.safetensors"))
        }
        #expect(try scratch.entries() == ["model.safetensors"])
    }
}
