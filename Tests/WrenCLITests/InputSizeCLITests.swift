import Foundation
import Testing

/// Issue 18 item 4: any input size the WRN's stages divide evenly. The float reference runs a
/// .npy at its own size and matches PyTorch (tools/make_input_size_fixtures.py); `convert
/// --input-size` writes a model of that size, which runs in int8 and agrees with float.
@Suite("wren at input sizes other than 32x32")
struct InputSizeCLITests {
    static func fixture(_ size: String, _ kind: String) -> String {
        WrenExecutable.fixture("fixtures/input-size/wrn10_2_c3_bias.\(size).\(kind).npy")
    }

    @Test(arguments: ["64x64", "96x72"])
    func floatReferenceMatchesPyTorch(size: String) throws {
        let folder = try TemporaryFolder()
        let logits = folder.path("float.npy")
        let result = try WrenExecutable.run(["run", CLIFixtures.biasCheckpoint, Self.fixture(size, "input"), "--logits", logits, "--quiet"])
        try #require(result.status == 0, "\(result.stderr)")
        let ours = try NpyFloat32(path: logits)
        let torch = try NpyFloat32(path: Self.fixture(size, "logits"))
        #expect(ours.shape == [8, 3])
        let scale = torch.values.map(abs).max() ?? 1
        let worst = zip(ours.values, torch.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-4 * scale, "max |Δ| \(worst) against PyTorch at \(size) (logits up to \(scale))")
    }

    @Test(arguments: [("64", "64x64", [3, 64, 64]), ("96x72", "96x72", [3, 96, 72])])
    func convertedModelRunsInInt8AndAgreesWithFloat(option: String, size: String, shape: [Int]) throws {
        let folder = try TemporaryFolder()
        let model = folder.path("m.wren")
        let input = Self.fixture(size, "input")
        let convert = try WrenExecutable.run(["convert", CLIFixtures.biasCheckpoint, "-o", model, "--input-size", option, "--calibration", input])
        try #require(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stdout.contains("\(shape[1])x\(shape[2]) inputs"), "\(convert.stdout)")
        let inspect = try WrenExecutable.run(["inspect", model, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        #expect((object["input"] as? [String: Any])?["shape"] as? [Int] == shape)

        let logits = folder.path("int8.npy")
        let run = try WrenExecutable.run(["run", model, input, "--reference", CLIFixtures.biasCheckpoint, "--logits", logits, "--quiet"])
        try #require(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.contains("top-1 agreement int8 vs float: 8/8"), "\(run.stdout)")
        let int8 = try NpyFloat32(path: logits)
        let torch = try NpyFloat32(path: Self.fixture(size, "logits"))
        let worst = zip(int8.values, torch.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 0.05, "int8 logits differ from PyTorch's by up to \(worst)")

        let validate = try WrenExecutable.run(["validate", model, "--reference", CLIFixtures.biasCheckpoint, "--data", input])
        #expect(validate.status == 0, "\(validate.stderr)")
    }

    @Test(arguments: ["30", "64x30", "0", "abc", "64x64x3", "8192"])
    func sizesTheStagesDoNotDivideAreRefused(size: String) throws {
        let folder = try TemporaryFolder()
        let result = try WrenExecutable.run(["convert", CLIFixtures.biasCheckpoint, "-o", folder.path("m.wren"), "--input-size", size])
        expectCleanFailure(result, "convert --input-size \(size)")
        #expect(result.stderr.contains("--input-size"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.path("m.wren")))
    }

    @Test func imagesCannotCalibrateANonSquareModel() throws {
        let folder = try TemporaryFolder()
        let result = try WrenExecutable.run([
            "convert", CLIFixtures.biasCheckpoint, "-o", folder.path("m.wren"), "--input-size", "96x72", "--calibration", CLIFixtures.digitImages])
        expectCleanFailure(result, "convert --input-size 96x72 --calibration images/")
        #expect(result.stderr.contains("letterboxed into squares") && result.stderr.contains(".npy [N, 3, 96, 72]"), "\(result.stderr)")
    }

    @Test func calibrationOfAnotherSizeIsRefusedNamingTheOption() throws {
        let folder = try TemporaryFolder()
        let result = try WrenExecutable.run([
            "convert", CLIFixtures.biasCheckpoint, "-o", folder.path("m.wren"), "--input-size", "64", "--calibration", CLIFixtures.biasInput])
        expectCleanFailure(result, "convert --input-size 64 with 32x32 calibration")
        #expect(result.stderr.contains("[N, 3, 64, 64]") && result.stderr.contains("--input-size"), "\(result.stderr)")
    }

    /// `wren train --input-size 64` letterboxes photos to 64x64 and records the size, which convert
    /// then uses without being told.
    @Test func trainingAtASizeCarriesItToConvert() throws {
        let folder = try TemporaryFolder()
        let checkpoint = folder.path("shapes.safetensors")
        let train = try WrenExecutable.run([
            "train", WrenExecutable.fixture("fixtures/photos"), "-o", checkpoint, "--input-size", "64", "--depth", "10", "--widen", "1",
            "--epochs", "1", "--threads", "2"])
        try #require(train.status == 0, "\(train.stderr)")
        #expect(train.stdout.contains("images of 64x64"), "\(train.stdout)")
        let model = folder.path("shapes.wren")
        let convert = try WrenExecutable.run(["convert", checkpoint, "-o", model, "--calibration", WrenExecutable.fixture("fixtures/photos")])
        try #require(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stderr.contains("input size"), "\(convert.stderr)")
        #expect(convert.stdout.contains("64x64 inputs"), "\(convert.stdout)")
        let run = try WrenExecutable.run(["run", model, WrenExecutable.fixture("fixtures/photos/circle")])
        #expect(run.status == 0, "\(run.stderr)")
        let refused = try WrenExecutable.run(["train", "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY, "-o",
                                              folder.path("a.safetensors"), "--input-size", "64"])
        expectCleanFailure(refused, "train --data X.npy --input-size 64")
    }
}
