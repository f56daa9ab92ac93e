import Foundation
import Testing
@testable import WrenConvert
import WrenNetwork

/// `.safetensors` import: float parity on files written by the `safetensors` package
/// (tools/make_safetensors_fixtures.py), and a catalogue of hand-corrupted files, one test per rule
/// of the format.
@Suite struct SafetensorsImportTests {
    static let folder = ImportFixtures.folder("safetensors")
    static let fixtures = ParityFixture.manifest(in: folder)

    @Test func manifestIsPresent() {
        #expect(Self.fixtures.count >= 3)
    }

    @Test(arguments: fixtures)
    func logitsMatchTheFramework(_ fixture: ParityFixture) throws {
        try fixture.expectParity()
    }

    @Test func integerTensorsAreLeftOutAndPaddleNamesMapped() throws {
        let torch = try CheckpointLoader.load(path: Self.folder.path("wrn16_2_c10.safetensors"))
        #expect(!torch.tensors.keys.contains { $0.hasSuffix("num_batches_tracked") })
        #expect(torch.tensors["fc.weight"]?.shape == [10, 128])
        let paddle = try CheckpointLoader.load(path: Self.folder.path("wrn10_1_c4_paddle.safetensors"))
        #expect(paddle.tensors["fc.weight"]?.shape == [4, 64])
        #expect(paddle.tensors["block1.layer.0.bn1.running_var"] != nil)
        #expect(!paddle.tensors.keys.contains { $0.hasSuffix("._mean") })
    }

    /// A header of 0x280 bytes starts the file with 80 02, a pickle's PROTO 2: still safetensors
    /// (`wren train` state files hit this when their metadata made the header that long).
    @Test func aHeaderLengthThatStartsLikeAPickleIsStillSafetensors() throws {
        let tensor = SafetensorsTensor.float32("w", shape: [2], [1, 2])
        var padding = ""
        var bytes: [UInt8] = []
        for _ in 0..<2000 {
            bytes = try SafetensorsWriter.encode([tensor], metadata: ["pad": padding])
            if bytes[0] == 0x80 && bytes[1] == 0x02 { break }
            padding += "x"
        }
        try #require(bytes[0] == 0x80 && bytes[1] == 0x02, "no padding gave a 0x280-byte header")
        let loaded = try CheckpointLoader.tensors(bytes, fileName: "state.safetensors")
        #expect(loaded.tensors["w"]?.data == [1, 2])
        #expect(loaded.metadata["pad"] == padding)
    }

    // MARK: Hand-built files

    /// A safetensors file: the header JSON as given (padded with spaces to 8 bytes), then `data`.
    static func file(header: String, data: [UInt8], declaredLength: UInt64? = nil) -> [UInt8] {
        var json = Array(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        let length = declaredLength ?? UInt64(json.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + json + data
    }

    static func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { value in (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    }

    static func error(_ bytes: [UInt8]) -> SafetensorsError? {
        do {
            _ = try SafetensorsCheckpoint.floatTensors(bytes, fileName: "t.safetensors")
            return nil
        } catch {
            return error
        }
    }

    @Test func everyFloatDTypeIsConvertedExactly() throws {
        let f32 = Self.littleEndian([Float(1.5).bitPattern, Float(-2).bitPattern])
        let f64 = Self.littleEndian([Double(0.25).bitPattern])
        let f16 = Self.littleEndian([UInt16(0x3C00), 0xC500])         // 1, -5
        let bf16 = Self.littleEndian([UInt16(0x3FC0), 0xBF80])        // 1.5, -1
        let i64 = Self.littleEndian([UInt64(7)])
        let header = """
            {"__metadata__":{"format":"pt"},"b":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},\
            "a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},"c":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},\
            "d":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]},"n":{"dtype":"I64","shape":[],"data_offsets":[24,32]},\
            "module.e":{"dtype":"F32","shape":[0],"data_offsets":[32,32]}}
            """
        let tensors = try SafetensorsCheckpoint.floatTensors(Self.file(header: header, data: f32 + f64 + f16 + bf16 + i64), fileName: "t.safetensors")
        #expect(tensors["a"] == FloatTensor(shape: [2, 1], data: [1.5, -2]))
        #expect(tensors["b"] == FloatTensor(shape: [1], data: [0.25]))
        #expect(tensors["c"] == FloatTensor(shape: [2], data: [1, -5]))
        #expect(tensors["d"] == FloatTensor(shape: [2], data: [1.5, -1]))
        #expect(tensors["e"] == FloatTensor(shape: [0], data: []))
        #expect(tensors["n"] == nil)
        let layout = try SafetensorsCheckpoint.readHeader(Self.file(header: header, data: f32 + f64 + f16 + bf16 + i64), fileName: "t")
        #expect(layout.metadata == ["format": "pt"])
    }

    static let fourFloats = littleEndian([Float(1), 2, 3, 4].map(\.bitPattern))

    @Test func tooShort() {
        #expect(Self.error([1, 0, 0]) == .tooShort(file: "t.safetensors", size: 3))
    }

    @Test func headerLongerThanTheCap() {
        let bytes = Self.file(header: "{}", data: [], declaredLength: 100_000_001)
        #expect(Self.error(bytes) == .headerTooLarge(file: "t.safetensors", length: 100_000_001, limit: 100_000_000))
    }

    @Test func headerPastTheEndOfTheFile() {
        let bytes = Self.file(header: "{}", data: [], declaredLength: 64)
        #expect(Self.error(bytes) == .headerPastEnd(file: "t.safetensors", length: 64, fileSize: 16))
    }

    @Test func headerThatIsNotUTF8() {
        var bytes = Self.file(header: "{\"a\":1}", data: [])
        bytes[10] = 0xFF
        #expect(Self.error(bytes) == .headerNotUTF8(file: "t.safetensors"))
    }

    @Test func headerThatIsNotAnObject() {
        #expect(Self.error(Self.file(header: "[1]", data: [])) == .invalidHeader(file: "t.safetensors", offset: 0, reason: "the header must start with '{'"))
    }

    @Test func headerWithBadJSONNamesTheOffset() {
        let trailingComma = Self.error(Self.file(header: "{\"a\":{},}", data: []))
        #expect(trailingComma == .invalidHeader(file: "t.safetensors", offset: 8, reason: "expected a string key"))
        let duplicate = Self.error(Self.file(header: #"{"a":{},"a":{}}"#, data: []))
        #expect(duplicate == .invalidHeader(file: "t.safetensors", offset: 8, reason: "duplicate key 'a'"))
    }

    @Test func metadataOfNonStrings() {
        let error = Self.error(Self.file(header: #"{"__metadata__":{"epoch":3}}"#, data: []))
        #expect(error == .invalidMetadata(file: "t.safetensors", reason: "entry 'epoch' is a number, expected a string"))
    }

    @Test func entriesWithMissingOrMalformedFields() {
        let missing = Self.error(Self.file(header: #"{"w":{"shape":[4],"data_offsets":[0,16]}}"#, data: Self.fourFloats))
        #expect(missing == .invalidEntry(file: "t.safetensors", key: "w", reason: "'dtype' is missing or not a string"))
        let negative = Self.error(Self.file(header: #"{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}"#, data: Self.fourFloats))
        #expect(negative == .invalidEntry(file: "t.safetensors", key: "w", reason: "shape entry is not a non-negative integer"))
        let backwards = Self.error(Self.file(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}}"#, data: Self.fourFloats))
        #expect(backwards == .invalidEntry(file: "t.safetensors", key: "w", reason: "'data_offsets' must be [begin, end] with 0 ≤ begin ≤ end"))
    }

    @Test func unknownDType() {
        let error = Self.error(Self.file(header: #"{"w":{"dtype":"F4","shape":[4],"data_offsets":[0,16]}}"#, data: Self.fourFloats))
        #expect(error == .unsupportedDType(file: "t.safetensors", key: "w", dtype: "F4"))
    }

    @Test func fp8TensorsAreRefusedNotDropped() {
        let error = Self.error(Self.file(header: #"{"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}"#, data: [1, 2, 3, 4]))
        #expect(error == .unsupportedDType(file: "t.safetensors", key: "w", dtype: "F8_E4M3"))
    }

    @Test func aGapBetweenTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        #expect(Self.error(Self.file(header: header, data: Self.fourFloats)) == .nonContiguousOffsets(file: "t.safetensors", key: "b", begin: 8, expected: 4))
    }

    @Test func overlappingTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        #expect(Self.error(Self.file(header: header, data: Self.fourFloats)) == .nonContiguousOffsets(file: "t.safetensors", key: "b", begin: 4, expected: 8))
    }

    @Test func aRangeThatDoesNotFitTheShape() {
        let header = #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#
        #expect(Self.error(Self.file(header: header, data: Self.fourFloats)) == .sizeMismatch(file: "t.safetensors", key: "a", expectedBytes: 12, rangeBytes: 16))
    }

    @Test func aShapeWhoseSizeOverflows() {
        let header = #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#
        #expect(Self.error(Self.file(header: header, data: Self.fourFloats)) == .sizeOverflow(file: "t.safetensors", key: "a"))
    }

    @Test func bytesAfterTheLastTensor() {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        #expect(Self.error(Self.file(header: header, data: Self.fourFloats + [0])) == .dataLengthMismatch(file: "t.safetensors", tensorBytes: 16, dataBytes: 17))
    }

    @Test func twoKeysForOneName() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"module.a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#
        #expect(Self.error(Self.file(header: header, data: Self.fourFloats)) == .duplicateName(file: "t.safetensors", name: "a"))
    }

    @Test func theLoaderRecognisesTheFormatByContent() throws {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        let path = try ImportFixtures.temporaryFile(named: "model.bin", bytes: Self.file(header: header, data: Self.fourFloats))
        #expect(try CheckpointLoader.load(path: path).tensors["a"] == FloatTensor(shape: [4], data: [1, 2, 3, 4]))
        let truncated = try ImportFixtures.temporaryFile(
            named: "cut.safetensors", bytes: Array(try Self.folder.bytes("wrn10_1_c10_bf16.safetensors").prefix(5000)))
        #expect(throws: SafetensorsError.self) { try CheckpointLoader.load(path: truncated) }
    }

    // MARK: The JSON reader

    @Test func strictJSONKeepsIntegersExactAndDecodesEscapes() throws {
        let value = try StrictJSON.parse(Array(#" {"n":[9007199254740993,-1,2.5e1],"s":"a\u00e9\ud83d\ude00\n","t":true,"z":null} "#.utf8))
        #expect(value["n"] == .array([.integer(9_007_199_254_740_993), .integer(-1), .number(25)]))
        #expect(value["s"] == .string("aé😀\n"))
        #expect(value["t"] == .bool(true))
        #expect(value["z"] == .null)
    }

    @Test func strictJSONRejectsWhatRFC8259Rejects() {
        for (text, offset) in [("[01]", 1), ("[1,]", 3), ("{\"a\" 1}", 5), ("\"\\x\"", 3), ("[1] x", 4), ("\"abc", 4)] {
            #expect(throws: StrictJSON.ParseError.self, "\(text)") { try StrictJSON.parse(Array(text.utf8)) }
            do {
                _ = try StrictJSON.parse(Array(text.utf8))
            } catch {
                #expect(error.offset == offset, "\(text): \(error)")
            }
        }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: StrictJSON.ParseError.self) { try StrictJSON.parse(Array(deep.utf8)) }
    }
}
