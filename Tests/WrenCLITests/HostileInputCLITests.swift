import Foundation
import Testing
@testable import wren
@testable import WrenConvert
import WrenCore
import WrenImage

/// Issue 15 as a user and an attacker meet the CLI: values that overflow, models of input sizes
/// `wren convert` never writes, and the odd files of the CLI review. Each case must end in an
/// exit with an `Error:` line naming the problem (or in correct output), never in a trap or in
/// NaN written with exit 0.
@Suite("wren with hostile and odd input")
struct HostileInputCLITests {
    // MARK: Non-finite and huge numbers (item 1)

    @Test func numbersFormatWithoutTrapping() {
        for value: Float in [.nan, .infinity, -.infinity, 1e38, -1e38, 3.4e38, .greatestFiniteMagnitude] {
            #expect(!Predictions.percent(value).isEmpty)
            #expect(!format(value).isEmpty)
        }
        #expect(Predictions.percent(.nan) == "nan%")
        #expect(Predictions.percent(0.9999) == "99.9%")
        #expect(format(.infinity) == "inf")
        #expect(format(1e38) == "1e+38")
        #expect(format(0.25) == "0.25")
    }

    @Test func validationTableSurvivesNonFiniteAndHugeValues() {
        let layer = ValidationReport.Layer(
            name: "relu", shape: [16, 8, 8], scale: 3.4e38, zeroPoint: 0, elementType: "int8", sqnrDB: 1e300, exact: false,
            cosine: .nan, clippedFraction: .infinity, maxAbsError: .infinity, floatMin: -1e38, floatMax: 1e38)
        let report = ValidationReport(
            model: .init(file: "m.wren", reference: "m.pth", architecture: "WRN-10-1", numClasses: 2, calibration: "?", weights: "?"),
            imageCount: 1, classNames: ["a", "b"], floatCorrect: 1, int8Correct: 0, agreeing: 0,
            meanAbsLogitDelta: 1e38, maxAbsLogitDelta: .infinity, logitSQNRDB: -1e200, layers: [layer], worstLayers: ["relu"],
            floatConfusion: [[0, 1], [0, 0]], int8Confusion: [[1, 0], [0, 0]], disagreements: [])
        let table = report.table()
        #expect(table.contains("1e+38") && table.contains("inf") && table.contains("nan"), "\(table)")
        #expect(report.svgChart().contains("<svg"))
    }

    @Test func runRefusesNonFiniteLogitsNamingInputAndLayer() throws {
        let folder = try TemporaryFolder()
        let model = try SyntheticModels.overflowingModel(in: folder)
        let result = try WrenExecutable.run(["run", model, CLIFixtures.biasInput])
        expectCleanFailure(result, "run overflowing.wren")
        #expect(result.stderr.contains("non-finite int8 logits for input 0"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("first non-finite values at"), "stderr: \(result.stderr)")

        // Scripts use --quiet --logits: nothing may be written, and the exit is not 0.
        let logits = folder.path("logits.npy")
        let quiet = try WrenExecutable.run(["run", model, CLIFixtures.biasInput, "--quiet", "--logits", logits])
        expectCleanFailure(quiet, "run overflowing.wren --quiet --logits")
        #expect(!FileManager.default.fileExists(atPath: logits), "NaN logits were written")
    }

    @Test func validateRefusesNonFiniteLogitsNamingTheFirstLayer() throws {
        let folder = try TemporaryFolder()
        let model = try SyntheticModels.overflowingModel(in: folder)
        let result = try WrenExecutable.run(["validate", model, "--reference", CLIFixtures.biasCheckpoint, "--data", CLIFixtures.biasInput])
        expectCleanFailure(result, "validate overflowing.wren")
        #expect(result.stderr.contains("non-finite int8 logits for input 0"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("first non-finite values at"), "stderr: \(result.stderr)")
    }

    /// Finite but enormous inputs (1e20) give enormous logit differences: printed, not trapped on.
    @Test(arguments: ["run", "validate"])
    func hugeInputsAreReported(command: String) throws {
        let folder = try TemporaryFolder()
        let model = try SyntheticModels.write(try SyntheticModels.biasModel(height: 32, width: 32).quantized, to: folder, as: "m.wren")
        let data = folder.path("huge.npy")
        try SyntheticModels.writeNpy([Float](repeating: 1e20, count: 2 * 3 * 32 * 32), shape: [2, 3, 32, 32], to: data)
        let arguments = command == "run"
            ? ["run", model, data, "--reference", CLIFixtures.biasCheckpoint]
            : ["validate", model, "--reference", CLIFixtures.biasCheckpoint, "--data", data]
        let result = try WrenExecutable.run(arguments)
        #expect(result.exited && result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("e+"), "the logit difference should print in exponent form:\n\(result.stdout)")
    }

    // MARK: Input sizes (item 3)

    /// Logits of the model run in this process, image by image: what the CLI must print.
    func expectedLogits(_ model: [UInt8], _ inputs: [Float], count: Int) throws -> [Float] {
        let context = try WrenContext(model: try WrenModel(bytes: model), maxBatch: 1)
        let perImage = inputs.count / count
        return try (0..<count).flatMap { try context.run(Array(inputs[($0 * perImage)..<(($0 + 1) * perImage)]), batch: 1) }
    }

    @Test(arguments: [(16, 16), (40, 40), (24, 40)])
    func everyInputSizeRunsNpyBatches(height: Int, width: Int) throws {
        let folder = try TemporaryFolder()
        let converted = try SyntheticModels.biasModel(height: height, width: width)
        let model = try SyntheticModels.write(converted.quantized, to: folder, as: "m\(height)x\(width).wren")
        let inputs = SyntheticModels.noise(count: 4, height: height, width: width, seed: 99)
        let data = folder.path("x.npy")
        try SyntheticModels.writeNpy(inputs, shape: [4, 3, height, width], to: data)
        let logits = folder.path("logits.npy")
        let result = try WrenExecutable.run(["run", model, data, "--logits", logits])
        try #require(result.exited && result.status == 0, "stderr: \(result.stderr)")
        let got = try NpyFloat32(path: logits)
        #expect(got.shape == [4, 3])
        #expect(got.values == (try expectedLogits(converted.bytes, inputs, count: 4)), "\(height)x\(width) logits differ from the runtime's")

        let wrong = folder.path("wrong.npy")
        try SyntheticModels.writeNpy(SyntheticModels.noise(count: 1, height: 32, width: 32), shape: [1, 3, 32, 32], to: wrong)
        if height != 32 {
            let refused = try WrenExecutable.run(["run", model, wrong])
            expectCleanFailure(refused, "run \(height)x\(width) model on a 32x32 .npy")
            #expect(refused.stderr.contains("takes [N, 3, \(height), \(width)]"), "stderr: \(refused.stderr)")
        }
    }

    @Test(arguments: [16, 40])
    func imagesAreLetterboxedToTheModelsSize(size: Int) throws {
        let folder = try TemporaryFolder()
        let converted = try SyntheticModels.biasModel(height: size, width: size)
        let model = try SyntheticModels.write(converted.quantized, to: folder, as: "m\(size).wren")
        let image = try #require(try FileManager.default.contentsOfDirectory(atPath: CLIFixtures.digitImages).filter { $0.hasSuffix(".jpg") }.sorted().first)
        let path = CLIFixtures.digitImages + "/" + image
        let logits = folder.path("logits.npy")
        let result = try WrenExecutable.run(["run", model, path, "--logits", logits])
        try #require(result.exited && result.status == 0, "stderr: \(result.stderr)")
        let input = try Preprocess.letterboxNormalize(try ImageDecoder.decode(path: path), size: size, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        #expect(try NpyFloat32(path: logits).values == (try expectedLogits(converted.bytes, input, count: 1)))
    }

    @Test func imagesForANonSquareModelAreRefused() throws {
        let folder = try TemporaryFolder()
        let model = try SyntheticModels.write(try SyntheticModels.biasModel(height: 24, width: 40).quantized, to: folder, as: "m.wren")
        let image = try #require(try FileManager.default.contentsOfDirectory(atPath: CLIFixtures.digitImages).filter { $0.hasSuffix(".jpg") }.first)
        let result = try WrenExecutable.run(["run", model, CLIFixtures.digitImages + "/" + image])
        expectCleanFailure(result, "run 24x40 model on a JPEG")
        #expect(result.stderr.contains("takes 24x40 inputs") && result.stderr.contains(".npy [N, 3, 24, 40]"), "stderr: \(result.stderr)")
    }

    // MARK: The CLI review (item 8)

    @Test func labelsFileWithCRLFAndByteOrderMark() throws {
        let folder = try TemporaryFolder()
        let labels = folder.path("labels.txt")
        try Data([0xEF, 0xBB, 0xBF] + Array("cat\r\ndog\r\nbird\r\n".utf8)).write(to: URL(fileURLWithPath: labels))
        let model = folder.path("m.wren")
        let convert = try WrenExecutable.run([
            "convert", CLIFixtures.biasCheckpoint, "-o", model, "--calibration", CLIFixtures.biasInput, "--class-names", labels])
        try #require(convert.exited && convert.status == 0, "stderr: \(convert.stderr)")
        let inspect = try WrenExecutable.run(["inspect", model])
        #expect(inspect.stdout.contains("  labels: cat, dog, bird\n"), "stdout: \(inspect.stdout)")
    }

    /// WRN-10-1 converted, then compared with a WRN-10-2 of as many classes (an error) and with the
    /// same WRN-10-1 saved another way (another SHA-256: a warning).
    @Test(arguments: ["run", "validate"])
    func referenceOfAnotherArchitectureIsAnError(command: String) throws {
        let folder = try TemporaryFolder()
        let model = folder.path("wrn10_1.wren")
        let input = WrenExecutable.fixture("fixtures/models/wrn10_1_c10.input.npy")
        let convert = try WrenExecutable.run(["convert", WrenExecutable.fixture("fixtures/models/wrn10_1_c10.pth"), "-o", model, "--calibration", input])
        try #require(convert.exited && convert.status == 0, "stderr: \(convert.stderr)")
        func arguments(_ reference: String) -> [String] {
            command == "run"
                ? ["run", model, input, "--quiet", "--reference", WrenExecutable.fixture(reference)]
                : ["validate", model, "--reference", WrenExecutable.fixture(reference), "--data", input]
        }
        let other = try WrenExecutable.run(arguments("fixtures/models/wrn10_2_c10_module.pth"))
        expectCleanFailure(other, "\(command) --reference WRN-10-2")
        #expect(other.stderr.contains("is WRN-10-2 with 10 classes, but") && other.stderr.contains("WRN-10-1"), "stderr: \(other.stderr)")

        let same = try WrenExecutable.run(arguments("fixtures/models/wrn10_1_c10_views.pth"))
        #expect(same.exited && same.status == 0, "stderr: \(same.stderr)")
        #expect(same.stderr.contains("warning:") && same.stderr.contains("SHA-256 differs"), "stderr: \(same.stderr)")
    }

    @Test func runLabelsOutOfRangeAreAnError() throws {
        let folder = try TemporaryFolder()
        let labels = folder.path("y.npy")
        let values: [Int64] = [0, 1, 2, 3]  // the bias model has 3 classes
        try NumpyArray(shape: [4], dtype: .int64, bytes: values.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
            .write(to: labels)
        let result = try WrenExecutable.run(["run", CLIFixtures.biasCheckpoint, CLIFixtures.biasInput, "--labels", labels])
        expectCleanFailure(result, "run --labels with class 3 of 3")
        #expect(result.stderr.contains("label 3 of input 3 is not a class of the model (0...2)"), "stderr: \(result.stderr)")
        #expect(result.stdout.isEmpty, "predictions printed before the labels were refused: \(result.stdout)")
    }

    @Test func emptyNpyIsAnError() throws {
        let folder = try TemporaryFolder()
        let empty = folder.path("empty.npy")
        try SyntheticModels.writeNpy([], shape: [0, 3, 32, 32], to: empty)
        let result = try WrenExecutable.run(["run", CLIFixtures.biasCheckpoint, empty])
        expectCleanFailure(result, "run on an N = 0 .npy")
        #expect(result.stderr.contains("holds no inputs"), "stderr: \(result.stderr)")
    }

    /// The message for a refused dtype says what `run` reads, and never offers i1/u1, which it
    /// refuses (<i2 is one the .npy reader itself does not know).
    @Test(arguments: [("|u1", 1), ("|i1", 1), ("<i4", 4), ("<i2", 2)])
    func integerInputsAreRefusedWithWhatRunReads(descr: String, itemSize: Int) throws {
        let folder = try TemporaryFolder()
        let path = folder.path("x.npy")
        try Data(rawNpy(descr: descr, shape: [1, 3, 32, 32], data: [UInt8](repeating: 0, count: 3 * 32 * 32 * itemSize)))
            .write(to: URL(fileURLWithPath: path))
        let result = try WrenExecutable.run(["run", CLIFixtures.biasCheckpoint, path])
        expectCleanFailure(result, "run on a \(descr) .npy")
        #expect(result.stderr.contains("inputs must be float32 or float64"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("u1, i1"), "stderr: \(result.stderr)")
    }

    /// A version 1.0 .npy with any descr, written by hand.
    func rawNpy(descr: String, shape: [Int], data: [UInt8]) -> [UInt8] {
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let length = header.utf8.count
        return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8) + data
    }

    @Test func kernelsOfAnotherCPUAreNotAvailableRatherThanUnknown() throws {
        let folder = try TemporaryFolder()
        let model = try SyntheticModels.write(try SyntheticModels.biasModel(height: 32, width: 32).quantized, to: folder, as: "m.wren")
        #if arch(x86_64)
        let foreign = "neondot"
        #else
        let foreign = "avx512vnni"
        #endif
        let result = try WrenExecutable.run(["bench", model, "--kernels", foreign, "--iterations", "1", "--warmup", "0"])
        expectCleanFailure(result, "bench --kernels \(foreign)")
        #expect(result.stderr.contains("kernels '\(foreign)' are not available on this CPU"), "stderr: \(result.stderr)")
        let unknown = try WrenExecutable.run(["bench", model, "--kernels", "sse9", "--iterations", "1"])
        expectCleanFailure(unknown, "bench --kernels sse9")
        #expect(unknown.stderr.contains("unknown kernels 'sse9'"), "stderr: \(unknown.stderr)")
    }

    @Test(arguments: [["run", "MODEL", "INPUT", "--top", "-1"], ["bench", "MODEL", "--batch", "-2"], ["validate", "MODEL", "--reference", "MODEL", "--data", "INPUT", "--limit", "-5"]])
    func negativeCountsGetAProperMessage(arguments: [String]) throws {
        let resolved = arguments.map { $0 == "MODEL" ? CLIFixtures.biasCheckpoint : $0 == "INPUT" ? CLIFixtures.biasInput : $0 }
        let result = try WrenExecutable.run(resolved)
        expectCleanFailure(result, resolved.joined(separator: " "))
        #expect(!result.stderr.contains("Missing value"), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("must be at least 1"), "stderr: \(result.stderr)")
    }
}
