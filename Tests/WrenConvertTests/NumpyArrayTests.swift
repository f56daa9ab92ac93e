import Foundation
import Testing
@testable import WrenConvert

/// `.npy` reading against files numpy 2.4.6 wrote (fixtures/images/numpy/, made by
/// tools/make_image_fixtures.py, which lists the values restated here), plus a catalogue of
/// hand-corrupted headers, one test case per corruption kind.
@Suite struct NumpyArrayTests {
    static let fixtures: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { break }
        }
        return url.appendingPathComponent("fixtures/images/numpy")
    }()

    static func path(_ name: String) -> String { fixtures.appendingPathComponent(name).path }
    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name))) }

    /// A version-1.0 file with the given header text (padded as numpy pads) and data.
    static func file(header: String, data: [UInt8] = [], major: UInt8 = 1) -> [UInt8] {
        var text = Array(header.utf8)
        let prefix = major == 1 ? 10 : 12
        while (prefix + text.count + 1) % 64 != 0 { text.append(0x20) }
        text.append(0x0A)
        var file: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, major, 0]
        let lengthBytes = major == 1 ? 2 : 4
        for index in 0..<lengthBytes { file.append(UInt8(truncatingIfNeeded: text.count >> (8 * index))) }
        return file + text + data
    }

    static let float32Values: [Float] = [0.0, -1.5, 3.25, 1e-8, -0.0, 65504.0]

    // MARK: Files numpy wrote

    @Test(arguments: ["float32_2x3.npy", "float32_2x3_v2.npy", "float32_2x3_v3.npy"])
    func float32InEveryVersion(name: String) throws {
        let array = try NumpyArray.read(path: Self.path(name))
        #expect(array.shape == [2, 3])
        #expect(array.dtype == .float32)
        let values = try array.floats()
        #expect(values.map(\.bitPattern) == Self.float32Values.map(\.bitPattern))  // bit patterns: -0.0 keeps its sign
        #expect(try array.doubles() == Self.float32Values.map(Double.init))
        #expect(throws: NumpyError.unsupportedConversion(from: .float32, to: "int64")) { try array.int64s() }
    }

    @Test func float64() throws {
        let array = try NumpyArray.read(path: Self.path("float64_4.npy"))
        #expect(array.shape == [4])
        #expect(array.dtype == .float64)
        #expect(try array.doubles() == [0.1, -2.5, 1e300, 3.0])
        #expect(throws: NumpyError.valueOutOfRange(index: 2, value: 1e300)) { try array.floats() }
    }

    @Test func int64() throws {
        let array = try NumpyArray.read(path: Self.path("int64_3.npy"))
        #expect(array.dtype == .int64)
        #expect(try array.int64s() == [-(1 << 62), 0, (1 << 53) + 1])
        #expect(throws: NumpyError.unsupportedConversion(from: .int64, to: "float32")) { try array.floats() }
        #expect(throws: NumpyError.unsupportedConversion(from: .int64, to: "float64")) { try array.doubles() }
    }

    @Test func int32() throws {
        let array = try NumpyArray.read(path: Self.path("int32_2x2.npy"))
        #expect(array.shape == [2, 2])
        #expect(try array.int64s() == [-7, 8, Int64(Int32.max), Int64(Int32.min)])
        #expect(try array.doubles() == [-7, 8, Double(Int32.max), Double(Int32.min)])
    }

    @Test func uint8AndInt8() throws {
        let unsigned = try NumpyArray.read(path: Self.path("uint8_2x2x3.npy"))
        #expect(unsigned.shape == [2, 2, 3])
        #expect(unsigned.dtype == .uint8)
        #expect(try unsigned.int64s() == (0..<12).map { Int64($0 * 20) })
        #expect(try unsigned.floats() == (0..<12).map { Float($0 * 20) })
        let signed = try NumpyArray.read(path: Self.path("int8_4.npy"))
        #expect(signed.dtype == .int8)
        #expect(try signed.int64s() == [-128, -1, 0, 127])
        #expect(try signed.floats() == [-128, -1, 0, 127])
    }

    @Test func scalarAndEmpty() throws {
        let scalar = try NumpyArray.read(path: Self.path("float32_scalar.npy"))
        #expect(scalar.shape == [])
        #expect(try scalar.floats() == [2.5])
        let empty = try NumpyArray.read(path: Self.path("float32_empty_0x3.npy"))
        #expect(empty.shape == [0, 3])
        #expect(try empty.floats() == [])
    }

    @Test func fortranOrderIsRefused() {
        let path = Self.path("fortran_2x3.npy")
        #expect(throws: NumpyError.fortranOrder(source: path)) { try NumpyArray.read(path: path) }
    }

    @Test func bigEndianIsRefused() {
        let path = Self.path("bigendian_f4.npy")
        #expect(throws: NumpyError.unsupportedDType(source: path, descr: ">f4")) { try NumpyArray.read(path: path) }
    }

    @Test func truncatedDataIsRefused() {
        let path = Self.path("truncated_float32.npy")
        #expect(throws: NumpyError.dataLengthMismatch(source: path, expected: 24, found: 19)) { try NumpyArray.read(path: path) }
    }

    @Test func missingFileIsUnreadable() {
        let path = Self.path("absent.npy")
        let error = #expect(throws: NumpyError.self) { try NumpyArray.read(path: path) }
        guard case .unreadableFile(let reported, _)? = error else {
            Issue.record("expected unreadableFile, got \(String(describing: error))")
            return
        }
        #expect(reported == path)
    }

    // MARK: Writing

    static let writtenValues: [Float] = (0..<12).map { (Float($0) - 5.5) / 4 }

    @Test func encodingIsByteIdenticalToNumpy() throws {
        let array = try NumpyArray(floats: Self.writtenValues, shape: [3, 4])
        #expect(try array.encoded() == Self.bytes("float32_3x4_written_by_numpy.npy"))
        // The same holds for every file numpy wrote in version 1.0 and C order.
        for name in ["float32_2x3.npy", "float64_4.npy", "int64_3.npy", "int32_2x2.npy", "uint8_2x2x3.npy",
                     "int8_4.npy", "float32_scalar.npy", "float32_empty_0x3.npy"] {
            let original = try Self.bytes(name)
            #expect(try NumpyArray.parse(original).encoded() == original, "\(name)")
        }
    }

    @Test func writeThenReadRoundTrips() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wren-npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("out.npy").path
        try NumpyArray.write(floats: Self.writtenValues, shape: [3, 4], to: path)
        let array = try NumpyArray.read(path: path)
        #expect(array.shape == [3, 4])
        #expect(try array.floats() == Self.writtenValues)
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == (try Self.bytes("float32_3x4_written_by_numpy.npy")))
        #expect(throws: NumpyError.cannotWrite(.destinationIsInput(destination: path, input: path))) {
            try NumpyArray.write(floats: [1], shape: [1], to: path, refusingToOverwrite: [path])
        }
    }

    @Test func shapeMustMatchValueCount() {
        #expect(throws: NumpyError.elementCountMismatch(shape: [2, 2], dtype: .float32, byteCount: 12)) {
            try NumpyArray(floats: [1, 2, 3], shape: [2, 2])
        }
        #expect(throws: NumpyError.self) { try NumpyArray(floats: [], shape: [-1]) }
        var array = try? NumpyArray(floats: [1, 2], shape: [2])
        array?.shape = [3]  // public fields can be made inconsistent; accessors check again
        #expect(throws: NumpyError.self) { try array?.floats() }
        #expect(throws: NumpyError.self) { try array?.encoded() }
    }

    // MARK: Corrupted files, one kind each

    static let twoFloats: [UInt8] = [0, 0, 0x80, 0x3F, 0, 0, 0, 0x40]  // 1.0, 2.0

    struct Corruption: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        var check: @Sendable (NumpyError) -> Bool
        var testDescription: String { name }
    }

    static func invalidHeader(_ name: String, _ header: String, data: [UInt8] = twoFloats) -> Corruption {
        Corruption(name: name, bytes: file(header: header, data: data)) {
            if case .invalidHeader = $0 { return true } else { return false }
        }
    }

    static let corruptions: [Corruption] = [
        Corruption(name: "empty file", bytes: []) { $0 == .notNumpyFile(source: "<memory>") },
        Corruption(name: "wrong magic", bytes: Array("\u{7F}NUMPX".utf8) + [1, 0, 0, 0]) { $0 == .notNumpyFile(source: "<memory>") },
        Corruption(name: "magic only", bytes: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1]) {
            $0 == .truncated(source: "<memory>", what: "version", offset: 6, needed: 2, available: 1)
        },
        Corruption(name: "version 4.0", bytes: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 4, 0, 0, 0]) {
            $0 == .unsupportedVersion(source: "<memory>", major: 4, minor: 0)
        },
        Corruption(name: "version 1.1", bytes: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 1, 0, 0]) {
            $0 == .unsupportedVersion(source: "<memory>", major: 1, minor: 1)
        },
        Corruption(name: "v2 header length cut", bytes: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 10, 0]) {
            $0 == .truncated(source: "<memory>", what: "header length", offset: 8, needed: 4, available: 2)
        },
        Corruption(name: "header longer than file", bytes: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 100, 0, 0x7B]) {
            $0 == .truncated(source: "<memory>", what: "header", offset: 10, needed: 100, available: 1)
        },
        Corruption(name: "header over the cap", bytes: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 0, 0, 0, 0x10]) {
            $0 == .headerTooLong(source: "<memory>", length: 0x1000_0000, limit: 10_000)
        },
        invalidHeader("not a dict", "['descr', '<f4']"),
        invalidHeader("missing shape", "{'descr': '<f4', 'fortran_order': False, }"),
        invalidHeader("duplicate key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"),
        invalidHeader("unknown key", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1, }"),
        invalidHeader("fortran_order as a string", "{'descr': '<f4', 'fortran_order': 'False', 'shape': (2,), }"),
        invalidHeader("negative dimension", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }"),
        invalidHeader("dimension beyond 64 bits", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }"),
        invalidHeader("(n) is not a tuple", "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }"),
        invalidHeader("65 dimensions", "{'descr': '<f4', 'fortran_order': False, 'shape': (" + String(repeating: "1, ", count: 65) + "), }"),
        invalidHeader("structured dtype", "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }"),
        invalidHeader("unterminated string", "{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }"),
        invalidHeader("escape in string", "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (2,), }"),
        invalidHeader("bytes after the dict", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x"),
        Corruption(name: "half-precision dtype", bytes: file(header: "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", data: [0, 0, 0, 0])) {
            $0 == .unsupportedDType(source: "<memory>", descr: "<f2")
        },
        Corruption(name: "shape product overflows", bytes: file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }")) {
            $0 == .shapeOverflow(source: "<memory>", shape: [4_294_967_296, 4_294_967_296])
        },
        Corruption(name: "byte count overflows", bytes: file(header: "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }")) {
            $0 == .shapeOverflow(source: "<memory>", shape: [2_305_843_009_213_693_952])
        },
        Corruption(name: "one trailing byte", bytes: file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: twoFloats + [0])) {
            $0 == .dataLengthMismatch(source: "<memory>", expected: 8, found: 9)
        },
        Corruption(name: "data one byte short", bytes: file(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data: Array(twoFloats.dropLast()))) {
            $0 == .dataLengthMismatch(source: "<memory>", expected: 8, found: 7)
        },
    ]

    @Test(arguments: corruptions)
    func corruptedFileIsRefused(_ corruption: Corruption) {
        let error = #expect(throws: NumpyError.self) { try NumpyArray.parse(corruption.bytes) }
        if let error {
            #expect(corruption.check(error), "\(corruption.name): got \(error)")
        }
    }

    @Test func tolerantSpellingsNumpyOnceWrote() throws {
        // Python 2 longs, double quotes, no trailing comma after the last entry, v2 length field.
        let header = "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1L, 2L)}"
        for major: UInt8 in [1, 2, 3] {
            let array = try NumpyArray.parse(Self.file(header: header, data: Self.twoFloats, major: major))
            #expect(array.shape == [1, 2])
            #expect(try array.floats() == [1, 2])
        }
    }

    /// No prefix of a valid file and no single-byte change to its header may crash the reader.
    @Test func mutationsNeverCrash() throws {
        let original = try Self.bytes("float32_2x3.npy")
        for length in 0..<original.count {
            #expect(throws: NumpyError.self) { try NumpyArray.parse(Array(original.prefix(length))) }
        }
        for position in 0..<128 {
            for value: UInt8 in [0x00, 0x20, 0x27, 0x28, 0x29, 0x2C, 0x2D, 0x39, 0x7B, 0x7D, 0xFF] {
                var mutated = original
                mutated[position] = value
                _ = try? NumpyArray.parse(mutated)
            }
        }
    }
}
