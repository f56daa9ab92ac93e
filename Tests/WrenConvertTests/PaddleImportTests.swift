import Foundation
import Testing
@testable import WrenConvert
import WrenNetwork

/// PaddlePaddle `.pdparams` import against real `paddle.save` files (tools/make_paddle_fixtures.py,
/// paddlepaddle 3.3.1): float parity with Paddle's own logits, the name/layout mapping, every NumPy
/// array layout, and refusals with typed errors.
@Suite struct PaddleImportTests {
    static let folder = ImportFixtures.folder("paddle")
    static let fixtures = ParityFixture.manifest(in: folder)

    @Test func manifestListsTheSeedsShapes() {
        let shapes = Self.fixtures.map { "\($0.architecture), \($0.architecture.numClasses) classes" }
        #expect(shapes.contains("WRN-28-1, 4 classes"), "\(shapes)")
        #expect(shapes.contains("WRN-10-8, 10 classes"), "\(shapes)")
        #expect(Self.fixtures.count >= 4)
    }

    /// The float reference on the imported weights reproduces Paddle's eval-mode logits.
    @Test(arguments: fixtures)
    func logitsMatchPaddle(_ fixture: ParityFixture) throws {
        try fixture.expectParity()
    }

    @Test func paddleNamesAndLayoutsBecomeCanonical() throws {
        let checkpoint = try CheckpointLoader.load(path: Self.folder.path("wrn28_1_c4.pdparams"))
        let keys = Set(checkpoint.tensors.keys)
        #expect(keys.contains("block1.layer.0.bn1.running_mean"))
        #expect(keys.contains("block3.layer.3.bn2.running_var"))
        #expect(keys.contains("block2.layer.0.convShortcut.bias"))
        #expect(!keys.contains { $0.hasSuffix("._mean") || $0.hasSuffix("._variance") || $0.contains("@@") })
        // nn.Linear(64, 4) stores [64, 4]; PyTorch's layout is [4, 64].
        #expect(checkpoint.tensors["fc.weight"]?.shape == [4, 64])
        #expect(checkpoint.tensors["conv1.bias"]?.shape == [16])
    }

    @Test func transposeMovesEveryValue() {
        let tensor = FloatTensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        #expect(PaddleNaming.transposed(tensor) == FloatTensor(shape: [3, 2], data: [1, 4, 2, 5, 3, 6]))
        #expect(PaddleNaming.canonicalName("_layers.bn1._variance") == "bn1.running_var")
    }

    @Test func twoPaddleNamesForOneParameterAreRefused() {
        let tensor = FloatTensor(shape: [1], data: [0])
        #expect(throws: ImportError.duplicateKey(key: "bn1.running_mean")) {
            try PaddleNaming.canonicalize([("bn1._mean", tensor), ("_layers.bn1._mean", tensor)])
        }
    }

    /// Fortran order, big-endian, float16/float64, and integer arrays and scalars left out, as
    /// numpy wrote them (arrays.json holds the row-major values).
    @Test func everyNumpyLayoutIsReadExactly() throws {
        let checkpoint = try CheckpointLoader.load(path: Self.folder.path("arrays.pdparams"))
        let expectedData = try Self.folder.data("arrays.json")
        let expected = try #require(try JSONSerialization.jsonObject(with: expectedData) as? [String: [String: Any]])
        #expect(Set(checkpoint.tensors.keys) == Set(expected.keys), "int64 arrays and numpy scalars are left out")
        for (key, reference) in expected {
            let tensor = try #require(checkpoint.tensors[key], "\(key) missing")
            #expect(tensor.shape == (reference["shape"] as? [Int]), "\(key) shape")
            let values = try #require(reference["values"] as? [Double])
            #expect(tensor.data == values.map { Float($0) }, "\(key): \(tensor.data) vs \(values)")
        }
    }

    // MARK: Corrupted copies of arrays.pdparams

    /// arrays.pdparams with the first occurrence of `find` replaced by `replacement` (same length).
    static func patched(_ find: String, _ replacement: String) throws -> String {
        var bytes = try Self.folder.bytes("arrays.pdparams")
        let needle = Array(find.utf8), patch = Array(replacement.utf8)
        precondition(needle.count == patch.count)
        let start = try #require((0...(bytes.count - needle.count)).first { Array(bytes[$0..<($0 + needle.count)]) == needle },
                                 "'\(find)' not in arrays.pdparams")
        bytes.replaceSubrange(start..<(start + needle.count), with: patch)
        return try ImportFixtures.temporaryFile(named: "patched.pdparams", bytes: bytes)
    }

    @Test func aGlobalOutsideTheAllowlistIsRefused() throws {
        let error = try #require(loadError(try Self.patched("ndarray", "ndarrax")))
        guard case .pickleGlobalNotAllowed(module: "numpy", name: "ndarrax", _) = error.root else {
            Issue.record("got \(error)")
            return
        }
        #expect(error.description.contains("patched.pdparams"))
    }

    @Test func aDtypeThatDoesNotMatchTheBytesIsRefused() throws {
        // The first array (fortran_3x4, 12 values, 48 bytes) now claims 8-byte elements.
        let error = try #require(loadError(try Self.patched("f4", "f8")))
        guard case .malformedTensor(key: "fortran_3x4", let reason) = error.root else {
            Issue.record("got \(error)")
            return
        }
        #expect(reason.contains("needs 96 bytes, the pickle holds 48"), "\(reason)")
    }

    @Test func aNonNumericDtypeIsRefused() throws {
        let error = try #require(loadError(try Self.patched("f4", "U4")))
        #expect(error.root == .unsupportedStorageType(key: "fortran_3x4", type: "numpy dtype 'U4'"))
    }

    @Test func aTruncatedFileIsRefused() throws {
        let bytes = try Self.folder.bytes("wrn10_1_c10_training.pdparams")
        let path = try ImportFixtures.temporaryFile(named: "cut.pdparams", bytes: Array(bytes.prefix(bytes.count / 2)))
        let error = try #require(loadError(path))
        guard case .pickleTruncated = error.root else {
            Issue.record("got \(error)")
            return
        }
    }

    @Test func aPickleWithoutArraysHasNoStateDict() throws {
        // {'a': 1}, protocol 2: PROTO 2, EMPTY_DICT, BINPUT 0, BINUNICODE 'a', BININT1 1, SETITEM, STOP.
        let bytes: [UInt8] = [0x80, 0x02, 0x7D, 0x71, 0x00, 0x58, 0x01, 0x00, 0x00, 0x00, 0x61, 0x4B, 0x01, 0x73, 0x2E]
        let path = try ImportFixtures.temporaryFile(named: "plain.pdparams", bytes: bytes)
        #expect(loadError(path) == .noStateDict(file: "plain.pdparams", topLevelKeys: ["a"]))
    }
}
