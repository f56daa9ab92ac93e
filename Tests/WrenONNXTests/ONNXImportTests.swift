import Foundation
import Testing
import WrenConvert
import WrenCore
import WrenHost
import WrenNetwork
import WrenONNX
import WrenReference

/// fixtures/onnx/, written by tools/make_onnx_fixtures.py from real torch.onnx.export and paddle2onnx
/// runs; every expected value below comes from those files, so no test needs Python.
enum ONNXFixtures {
    static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url
    }()
    static let folder = repoRoot.appendingPathComponent("fixtures/onnx")
    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
    static func repo(_ relative: String) -> String { repoRoot.appendingPathComponent(relative).path }

    /// The variants that must import, with what the exporter did to bn2.
    static let variants: [(name: String, bn2Folded: Bool)] = [
        ("wrn10_1_op13_ts_fused_gemm_gap", true),
        ("wrn10_1_op17_ts_unfused_matmul_reducemean", false),
        ("wrn10_1_op21_dynamo_avgpool", true),
        ("wrn10_1_op13_external", true),
        ("wrn10_1_flatten_external", true),
        ("wrn10_1_squeeze_external", true),
        // k = 2: the exporter also folds block1's bn1 into the stem (found trying a user's export).
        ("wrn10_2_op17_ts_fused_stem", true),
        ("wrn10_1_paddle", false),
        ("wrn16_2_digits_op17", false),
    ]
    static let variantNames = variants.map(\.name)

    /// The first 32 of fixtures/digits/calib_x.npy's 200 images: enough for minmax ranges, and a
    /// conversion a debug build finishes in seconds rather than minutes.
    static let digitsCalibrationCount = 32
    static func digitsCalibration() throws -> [Float] {
        Array(try NumpyArray.read(path: repo("fixtures/digits/calib_x.npy")).floats().prefix(digitsCalibrationCount * 3 * 32 * 32))
    }

    /// The digits model imported from ONNX with the .pth's source name and hash, converted once per
    /// run on `digitsCalibration()` (the byte-identity and int8 tests share it).
    struct DigitsConversion: Sendable {
        var checkpoint: Checkpoint
        var pth: Checkpoint
        var bytes: [UInt8]
        var reference: WideResNet
    }
    static let digits: Result<DigitsConversion, any Error> = Result {
        var onnx = try CheckpointLoader.load(path: path("wrn16_2_digits_op17.onnx"))
        let pth = try CheckpointLoader.load(path: repo("fixtures/digits/wrn16_2_digits.pth"))
        let original = onnx
        onnx.sha256 = pth.sha256
        onnx.sourceName = pth.sourceName
        let result = try Converter.convert(checkpoint: onnx, calibration: try digitsCalibration(), count: digitsCalibrationCount, options: ConversionOptions())
        return DigitsConversion(checkpoint: original, pth: pth, bytes: result.bytes, reference: result.reference)
    }

    /// The ONNXImportError a load throws (nil when it succeeds); other error types fail the test.
    static func onnxError(_ path: String, limits: ImportLimits = .default) throws -> ONNXImportError? {
        do {
            _ = try CheckpointLoader.load(path: path, limits: limits)
            return nil
        } catch let error as ONNXImportError {
            return error
        }
    }
}

@Suite struct ONNXImportTests {
    // MARK: Each exporter's variant against the exporter's own logits

    /// A first block that widens lets the exporter fold its bn1 into the stem: the stem keeps the
    /// folded bias and block1's bn1 is the identity.
    @Test func bn1FoldedIntoTheStemIsSeen() throws {
        let tensors = try CheckpointLoader.load(path: ONNXFixtures.path("wrn10_2_op17_ts_fused_stem.onnx")).tensors
        let gamma = try #require(tensors["block1.layer.0.bn1.weight"])
        #expect(gamma.data.allSatisfy { $0 == 1 } && tensors["block1.layer.0.bn1.running_var"]?.data.allSatisfy { $0 == 1 - 1e-5 } == true)
        #expect(tensors["conv1.bias"]?.data.contains { $0 != 0 } == true)
        #expect(tensors["block2.layer.0.bn1.weight"]?.data.contains { $0 != 1 } == true, "only the first block's bn1 is folded")
    }

    /// The float reference over the imported parameters reproduces PyTorch's / Paddle's logits within
    /// 1e-4 of the largest logit.
    @Test(arguments: ONNXFixtures.variantNames)
    func variantMatchesTheExportersLogits(_ name: String) throws {
        let checkpoint = try CheckpointLoader.load(path: ONNXFixtures.path("\(name).onnx"))
        let network = try WideResNet(stateDict: checkpoint.tensors)
        let input = try NumpyArray.read(path: ONNXFixtures.path("\(name).input.npy"))
        let expected = try NumpyArray.read(path: ONNXFixtures.path("\(name).logits.npy")).floats()
        let logits = try network.forward(try input.floats(), batch: input.shape[0])
        try #require(logits.count == expected.count)
        let scale = expected.map(\.magnitude).max()!
        let worst = zip(logits, expected).map { ($0 - $1).magnitude }.max()!
        #expect(worst <= 1e-4 * scale, "\(name): max |Δ| \(worst) against max |logit| \(scale)")
    }

    /// The variants really differ where their names say: a folded bn2 leaves conv1 a bias (and every
    /// other conv a zero one) and an identity bn2; an unfused torch export has no conv biases.
    @Test(arguments: zip(ONNXFixtures.variants.map { $0.name }, ONNXFixtures.variants.map { $0.bn2Folded }))
    func bn2FoldingIsSeen(_ name: String, _ folded: Bool) throws {
        let tensors = try CheckpointLoader.load(path: ONNXFixtures.path("\(name).onnx")).tensors
        let gamma = try #require(tensors["block1.layer.0.bn2.weight"])
        let variance = try #require(tensors["block1.layer.0.bn2.running_var"])
        if folded {
            #expect(gamma.data.allSatisfy { $0 == 1 } && variance.data.allSatisfy { $0 == 1 - 1e-5 })
            #expect(tensors["block1.layer.0.conv1.bias"]?.data.contains { $0 != 0 } == true)
            #expect(tensors["block1.layer.0.conv2.bias"]?.data.allSatisfy { $0 == 0 } == true)
        } else {
            #expect(!gamma.data.allSatisfy { $0 == 1 }, "\(name): bn2 should carry the trained values")
            #expect((tensors["block1.layer.0.conv1.bias"] != nil) == name.contains("paddle"))
        }
    }

    // MARK: The same parameters as the other importers

    /// torch's unfused export holds exactly the .pth's float tensors (num_batches_tracked aside, which
    /// importers drop).
    @Test func unfusedTorchExportHasThePthParameters() throws {
        let onnx = try CheckpointLoader.load(path: ONNXFixtures.path("wrn10_1_op17_ts_unfused_matmul_reducemean.onnx")).tensors
        let pth = try CheckpointLoader.load(path: ONNXFixtures.repo("fixtures/models/wrn10_1_c10.pth")).tensors
        #expect(onnx.keys.sorted() == pth.keys.sorted())
        for (key, tensor) in pth { #expect(onnx[key] == tensor, "\(key) differs") }
    }

    /// paddle2onnx's export (conv biases as Add(Reshape(b)), Linear as MatMul on [in, out]) holds exactly
    /// the .pdparams import's tensors.
    @Test func paddleExportHasThePdparamsParameters() throws {
        let onnx = try CheckpointLoader.load(path: ONNXFixtures.path("wrn10_1_paddle.onnx")).tensors
        let paddle = try CheckpointLoader.load(path: ONNXFixtures.repo("fixtures/paddle/wrn10_1_c10_training.pdparams")).tensors
        #expect(onnx.keys.sorted() == paddle.keys.sorted())
        for (key, tensor) in paddle { #expect(onnx[key] == tensor, "\(key) differs") }
    }

    /// The digits model through ONNX converts to the same .wren as through its .pth, byte for byte,
    /// once the two metadata fields that name the source file (source_name, source_sha256) agree.
    @Test func digitsOnnxConvertsToTheSameWrenAsThePth() throws {
        let digits = try ONNXFixtures.digits.get()
        #expect(digits.checkpoint.tensors == digits.pth.tensors)
        #expect(digits.checkpoint.sha256 != digits.pth.sha256)
        let fromPth = try Converter.convert(checkpoint: digits.pth, calibration: try ONNXFixtures.digitsCalibration(),
                                            count: ONNXFixtures.digitsCalibrationCount, options: ConversionOptions())
        #expect(digits.bytes == fromPth.bytes)
    }

    // MARK: int8 against float

    /// The trained digits model imported from ONNX: int8 agrees with float on the first 120 of the 360
    /// test images as the .pth path does on all of them (QuantizationAccuracyTests: at least 99% top-1
    /// agreement; `wren run` of this model gives 360/360).
    @Test func digitsOnnxInt8AgreesWithFloat() throws {
        let converted = try ONNXFixtures.digits.get()
        let test = try NumpyArray.read(path: ONNXFixtures.repo("fixtures/digits/test_x.npy"))
        let count = 120, inputs = Array(try test.floats().prefix(120 * 3 * 32 * 32))
        let context = try WrenContext(model: try WrenModel(bytes: converted.bytes), maxBatch: count, kernels: try KernelSelection.selectedKernels())
        let int8 = argmax(try context.run(inputs, batch: count))
        let float = argmax(try converted.reference.forward(inputs, batch: count))
        let agreement = Double(zip(int8, float).filter { $0 == $1 }.count) / Double(count)
        #expect(agreement >= 0.99, "int8 vs float top-1 agreement \(agreement)")
    }

    /// Every WRN-10-1 variant (random weights, so agreement proves little) converts, loads and runs,
    /// and its int8 logits stay close to float: relative RMS error below 25%, the bound the .pth
    /// fixtures meet (QuantizationAccuracyTests.fixtureConvertsAndTracksFloat).
    @Test(arguments: ONNXFixtures.variantNames.filter { $0.hasPrefix("wrn10_") })
    func variantConvertsAndTracksFloat(_ name: String) throws {
        let checkpoint = try CheckpointLoader.load(path: ONNXFixtures.path("\(name).onnx"))
        let input = try NumpyArray.read(path: ONNXFixtures.path("\(name).input.npy"))
        let values = try input.floats(), count = input.shape[0]
        let converted = try Converter.convert(checkpoint: checkpoint, calibration: values, count: count, options: ConversionOptions())
        let context = try WrenContext(model: try WrenModel(bytes: converted.bytes), maxBatch: count, kernels: try KernelSelection.selectedKernels())
        let int8 = try context.run(values, batch: count)
        let float = try converted.reference.forward(values, batch: count)
        var error = 0.0, energy = 0.0
        for (a, b) in zip(int8, float) {
            error += Double((a - b) * (a - b))
            energy += Double(b * b)
        }
        #expect((error / energy).squareRoot() < 0.25, "\(name): int8 relative RMS logit error \((error / energy).squareRoot())")
    }

    // MARK: Not a WRN: the first node that does not fit is named

    @Test func anExtraNodeIsNamed() throws {
        let error = try #require(try ONNXFixtures.onnxError(ONNXFixtures.path("not_wrn_extra_sigmoid.onnx")))
        guard case .notAWRN(_, let node, _) = error else { Issue.record("\(error)"); return }
        #expect(node.contains("extra_sigmoid") && node.contains("Sigmoid"), "\(error)")
    }

    @Test func aPostActivationResNetIsNamedAtItsResidualAdd() throws {
        let error = try #require(try ONNXFixtures.onnxError(ONNXFixtures.path("not_wrn_resnet.onnx")))
        guard case .notAWRN(_, let node, let expected) = error else { Issue.record("\(error)"); return }
        #expect(node.contains("'/Add'") && node.contains("Add"), "\(error)")
        #expect(expected.contains("conv1"), "\(error)")
    }

    // MARK: Hostile files: typed errors naming the problem and where

    @Test func theControlForTheHostileFilesImports() throws {
        #expect(try ONNXFixtures.onnxError(ONNXFixtures.path("hostile_inline_stem.onnx")) == nil)
    }

    @Test func truncatedFileIsReportedTruncated() throws {
        let error = try ONNXFixtures.onnxError(ONNXFixtures.path("hostile_truncated.onnx"))
        #expect(error == .malformedProtobuf(file: "hostile_truncated.onnx", reason: "the protobuf data is truncated"))
    }

    @Test func depthBombStopsAtTheDepthLimit() throws {
        let error = try ONNXFixtures.onnxError(ONNXFixtures.path("hostile_depth_bomb.onnx"))
        #expect(error == .malformedProtobuf(file: "hostile_depth_bomb.onnx", reason: "messages nest deeper than 16 levels"))
    }

    @Test func hugeDimsHitTheLimitBeforeAnyAllocation() throws {
        let error = try #require(try ONNXFixtures.onnxError(ONNXFixtures.path("hostile_huge_dims.onnx")))
        guard case .limitExceeded(_, "maxFileBytes", _, let found) = error else { Issue.record("\(error)"); return }
        #expect(found.contains("model.conv1.weight") && found.contains("1099511627776"), "\(error)")
    }

    @Test func byteCountMustMatchDims() throws {
        let error = try ONNXFixtures.onnxError(ONNXFixtures.path("hostile_bad_count.onnx"))
        #expect(error == .badTensor(file: "hostile_bad_count.onnx", tensor: "model.conv1.weight",
                                    reason: "raw_data holds 1724 bytes, but dims [16, 3, 3, 3] of FLOAT need 1728"))
    }

    @Test func wrongDataTypeIsNamed() throws {
        let error = try ONNXFixtures.onnxError(ONNXFixtures.path("hostile_wrong_dtype.onnx"))
        #expect(error == .badTensor(file: "hostile_wrong_dtype.onnx", tensor: "model.conv1.weight",
                                    reason: "has data type DOUBLE; WRN weights must be FLOAT (float32)"))
    }

    @Test func rawDataAndFloatDataTogetherAreRefused() throws {
        let error = try ONNXFixtures.onnxError(ONNXFixtures.path("hostile_raw_and_float.onnx"))
        #expect(error == .badTensor(file: "hostile_raw_and_float.onnx", tensor: "model.conv1.weight", reason: "carries both raw_data and typed values"))
    }

    @Test(arguments: [
        ("hostile_external_escape.onnx", "../../etc/passwd", "the location leaves the model's directory ('..')"),
        ("hostile_external_absolute.onnx", "/etc/passwd", "the location must be a relative path inside the model's directory"),
        ("hostile_external_past_end.onnx", "wrn10_1_op13_external.onnx.data", "bytes 311960..<313688 run past its end (311976 bytes)"),
        ("hostile_external_negative_offset.onnx", "wrn10_1_op13_external.onnx.data", "offset '-8' is not a whole number of bytes"),
    ])
    func badExternalDataIsRefused(_ file: String, _ location: String, _ reason: String) throws {
        let error = try ONNXFixtures.onnxError(ONNXFixtures.path(file))
        #expect(error == .badExternalData(file: file, tensor: "model.conv1.weight", location: location, reason: reason))
    }

    /// A data file that is a symbolic link out of the model's directory is refused even though its
    /// name is harmless and its content valid; a missing one is named.
    @Test func externalDataThroughASymlinkOutOfTheDirectoryIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("wren-onnx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = folder.appendingPathComponent("wrn10_1_op13_external.onnx").path
        try FileManager.default.copyItem(atPath: ONNXFixtures.path("wrn10_1_op13_external.onnx"), toPath: model)
        let missing = try #require(try ONNXFixtures.onnxError(model))
        guard case .badExternalData(_, _, "wrn10_1_op13_external.onnx.data", let reason) = missing else { Issue.record("\(missing)"); return }
        #expect(reason.contains("No such file"), "\(missing)")

        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("wrn10_1_op13_external.onnx.data").path,
                                                   withDestinationPath: ONNXFixtures.path("wrn10_1_op13_external.onnx.data"))
        let escaped = try #require(try ONNXFixtures.onnxError(model))
        guard case .badExternalData(_, _, _, let why) = escaped else { Issue.record("\(escaped)"); return }
        #expect(why.contains("outside the model's directory"), "\(escaped)")
    }

    /// Given as bytes only (the fuzz targets' way in), a model with external data is refused by name.
    @Test func externalDataNeedsADirectory() throws {
        let bytes = [UInt8](try Data(contentsOf: ONNXFixtures.folder.appendingPathComponent("wrn10_1_op13_external.onnx")))
        #expect(throws: ONNXImportError.badExternalData(file: "m.onnx", tensor: "model.conv1.weight", location: "wrn10_1_op13_external.onnx.data",
                                                        reason: "the model was given as bytes, without a directory to read external data from")) {
            try ONNXImporter.stateDict(bytes: bytes, fileName: "m.onnx", directory: nil)
        }
    }

    /// ImportLimits apply: the parsed-values cap counts nodes and values, the file cap the file.
    @Test func importLimitsApply() throws {
        let path = ONNXFixtures.path("wrn10_1_op13_ts_fused_gemm_gap.onnx")
        let values = try #require(try ONNXFixtures.onnxError(path, limits: ImportLimits(maxParsedValues: 100)))
        guard case .limitExceeded(_, "maxParsedValues", 100, _) = values else { Issue.record("\(values)"); return }
        // A file over maxFileBytes is refused before it is read (CheckpointLoader's own check).
        #expect(throws: ImportError.self) { try CheckpointLoader.load(path: path, limits: ImportLimits(maxFileBytes: 1000)) }
        // The external data counts too: the model file is 8.8 KB, its data 312 KB.
        let external = try #require(try ONNXFixtures.onnxError(ONNXFixtures.path("wrn10_1_op13_external.onnx"), limits: ImportLimits(maxFileBytes: 100_000)))
        guard case .limitExceeded(_, "maxFileBytes", 100_000, _) = external else { Issue.record("\(external)"); return }
    }

    /// A flood of empty nodes (2 bytes each in the file, a heap-allocated NodeProto each once decoded)
    /// is refused by the count taken before decoding, not after.
    @Test func aNodeFloodIsRefusedBeforeDecoding() throws {
        func field(_ number: UInt8, _ payload: [UInt8]) -> [UInt8] {
            var bytes: [UInt8] = [number << 3 | 2]
            var length = payload.count
            repeat {
                bytes.append(UInt8(length & 0x7F) | (length >= 0x80 ? 0x80 : 0))
                length >>= 7
            } while length > 0
            return bytes + payload
        }
        let nodes: [UInt8] = Array([[UInt8]](repeating: [0x0A, 0x00], count: 50_000).joined())  // node {} × 50,000
        let model: [UInt8] = [0x08, 0x08] + field(7, nodes) + field(8, [0x10, 13])
        #expect(ONNXImporter.looksLikeONNX(model))
        #expect(throws: ONNXImportError.limitExceeded(file: "flood.onnx", limit: "maxParsedValues", value: 10_000,
                                                      found: "the model holds more than 10000 messages and strings")) {
            try ONNXImporter.stateDict(bytes: model, fileName: "flood.onnx", directory: nil, limits: ONNXLimits(maxValues: 10_000))
        }
        // Under the cap the same kind of file decodes and is refused as a graph: the count did not misfire.
        let few: [UInt8] = [0x08, 0x08] + field(7, Array(nodes.prefix(20))) + field(8, [0x10, 13])
        #expect(throws: ONNXImportError.malformedGraph(file: "few.onnx", reason: "has 0 inputs besides its initializers (); a WRN has one, the image batch")) {
            try ONNXImporter.stateDict(bytes: few, fileName: "few.onnx", directory: nil, limits: ONNXLimits(maxValues: 10_000))
        }
    }

    // MARK: Detection

    /// ONNX is recognised by its top-level protobuf fields; the other formats' first bytes are not ONNX,
    /// and a file no format claims gets the message listing every format.
    @Test func detectionIsByContent() throws {
        for name in ["wrn10_1_paddle.onnx", "wrn10_1_op21_dynamo_avgpool.onnx", "hostile_depth_bomb.onnx", "hostile_truncated.onnx"] {
            #expect(ONNXImporter.looksLikeONNX([UInt8](try Data(contentsOf: ONNXFixtures.folder.appendingPathComponent(name)))), "\(name)")
        }
        for other in ["fixtures/models/wrn10_1_c10.pth", "fixtures/paddle/wrn10_1_c10_training.pdparams", "fixtures/digits/labels.txt"] {
            #expect(!ONNXImporter.looksLikeONNX([UInt8](try Data(contentsOf: URL(fileURLWithPath: ONNXFixtures.repo(other))))), "\(other)")
        }
        #expect(!ONNXImporter.looksLikeONNX(Array("hello, world\n".utf8)))
        #expect(!ONNXImporter.looksLikeONNX([0x08, 0x07]))  // ir_version alone: no graph
        let text = FileManager.default.temporaryDirectory.appendingPathComponent("wren-onnx-\(UUID().uuidString).onnx")
        try Data("not a model".utf8).write(to: text)
        defer { try? FileManager.default.removeItem(at: text) }
        do {
            _ = try CheckpointLoader.load(path: text.path)
            Issue.record("a text file imported")
        } catch let error as ImportError {
            #expect("\(error)".contains("an ONNX model (.onnx)") && "\(error)".contains(".safetensors"), "\(error)")
        }
    }
}

func argmax(_ logits: [Float], classes: Int = 10) -> [Int] {
    stride(from: 0, to: logits.count, by: classes).map { start in
        (0..<classes).max { logits[start + $0] < logits[start + $1] }!
    }
}
