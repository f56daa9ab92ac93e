import Foundation
import Testing

/// The `wren` command line as a user meets it: the built executable in a subprocess, on the
/// fixtures made by tools/make_fixtures.py and tools/train_digits.py.
@Suite("wren command line")
struct CLITests {
    /// `wren convert` of the WRN-10-2 bias checkpoint, calibrated on its 4 fixture inputs.
    func convertBiasModel(into folder: TemporaryFolder) throws -> String {
        let output = folder.path("wrn10_2_c3_bias.wren")
        let result = try WrenExecutable.run(["convert", CLIFixtures.biasCheckpoint, "-o", output, "--calibration", CLIFixtures.biasInput])
        try #require(result.status == 0 && result.exited, "convert failed: \(result.stderr)")
        return output
    }

    @Test func convertWritesTheWrenFile() throws {
        let folder = try TemporaryFolder()
        let output = folder.path("model.wren")
        let result = try WrenExecutable.run(["convert", CLIFixtures.biasCheckpoint, "-o", output, "--calibration", CLIFixtures.biasInput])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.exited)
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? nil
        #expect((size ?? 0) > 0, "\(output) missing or empty")
        #expect(result.stdout.contains("WRN-10-2, 3 classes"), "stdout: \(result.stdout)")
    }

    @Test func inspectNamesArchitectureAndClasses() throws {
        let folder = try TemporaryFolder()
        let model = try convertBiasModel(into: folder)
        let result = try WrenExecutable.run(["inspect", model])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("WRN-10-2"), "stdout: \(result.stdout)")
        #expect(result.stdout.contains("3 classes"), "stdout: \(result.stdout)")
    }

    /// --keep-wider end to end: convert names the int16 tensors, inspect and validate show them,
    /// the help teaches both options, and an unknown name is refused with the valid ones.
    @Test func keepWiderIsShownByConvertInspectAndValidate() throws {
        let folder = try TemporaryFolder()
        let output = folder.path("wide.wren")
        let kept = "block2.layer.0.relu1,block3.layer.0"
        let convert = try WrenExecutable.run([
            "convert", CLIFixtures.biasCheckpoint, "-o", output, "--calibration", CLIFixtures.biasInput, "--keep-wider", kept])
        #expect(convert.status == 0, "stderr: \(convert.stderr)")
        #expect(convert.stdout.contains("int16 activations (.wren 2.0): block2.layer.0.relu1, block3.layer.0"), "stdout: \(convert.stdout)")
        let inspect = try WrenExecutable.run(["inspect", output])
        #expect(inspect.status == 0, "stderr: \(inspect.stderr)")
        #expect(inspect.stdout.contains(".wren 2.0"), "stdout: \(inspect.stdout)")
        #expect(inspect.stdout.contains("int16:        block2.layer.0.relu1, block3.layer.0"), "stdout: \(inspect.stdout)")
        #expect(inspect.stdout.contains("int16_activations: \(kept)"), "stdout: \(inspect.stdout)")
        #expect(inspect.stdout.contains("16→16 *") || inspect.stdout.contains("8→16 *"), "stdout: \(inspect.stdout)")
        let validate = try WrenExecutable.run([
            "validate", output, "--reference", CLIFixtures.biasCheckpoint, "--data", CLIFixtures.biasInput])
        #expect(validate.status == 0, "stderr: \(validate.stderr)")
        #expect(validate.stdout.contains("int16        block2.layer.0.relu1, block3.layer.0"), "stdout: \(validate.stdout)")
        #expect(validate.stdout.contains("type"), "stdout: \(validate.stdout)")

        let help = try WrenExecutable.run(["convert", "--help"])
        #expect(help.stdout.contains("--keep-wider") && help.stdout.contains("--auto-keep-wider"), "help: \(help.stdout)")
        let bad = try WrenExecutable.run([
            "convert", CLIFixtures.biasCheckpoint, "-o", folder.path("bad.wren"), "--calibration", CLIFixtures.biasInput,
            "--keep-wider", "block9.relu"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("'block9.relu' is not an activation") && bad.stderr.contains("block2.layer.0.relu1"), "stderr: \(bad.stderr)")
    }

    @Test func runWritesInt8LogitsAsFloat32Npy() throws {
        let folder = try TemporaryFolder()
        let model = try convertBiasModel(into: folder)
        let logits = folder.path("int8.npy")
        let result = try WrenExecutable.run(["run", model, CLIFixtures.biasInput, "--logits", logits])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let array = try NpyFloat32(path: logits)
        #expect(array.shape == [4, 3])
        #expect(array.values.count == 12 && array.values.allSatisfy(\.isFinite), "\(array.values)")
    }

    @Test func floatRunOfCheckpointMatchesPyTorch() throws {
        let folder = try TemporaryFolder()
        let logits = folder.path("float.npy")
        let result = try WrenExecutable.run(["run", CLIFixtures.biasCheckpoint, CLIFixtures.biasInput, "--logits", logits])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let got = try NpyFloat32(path: logits)
        let expected = try NpyFloat32(path: CLIFixtures.biasLogits)
        try #require(got.shape == expected.shape, "shape \(got.shape), PyTorch \(expected.shape)")
        let scale = expected.values.map(abs).max() ?? 1
        let worst = zip(got.values, expected.values).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-4 * scale, "max |wren - torch| = \(worst), max |torch| = \(scale)\nwren \(got.values)\ntorch \(expected.values)")
    }

    @Test func digitsModelReadsTheDigitInJPEGs() throws {
        let folder = try TemporaryFolder()
        let model = try CLIFixtures.convertDigits(into: folder)
        let images = try FileManager.default.contentsOfDirectory(atPath: CLIFixtures.digitImages)
            .filter { $0.hasSuffix(".jpg") }.sorted().map { "\(CLIFixtures.digitImages)/\($0)" }
        try #require(images.count == 12, "expected 12 JPEGs in \(CLIFixtures.digitImages), found \(images.count)")
        let result = try WrenExecutable.run(["run", model] + images + ["--top", "2"])
        #expect(result.status == 0, "stderr: \(result.stderr)")

        // Lines look like "<path>/test0_label7.jpg: 7 (99.9%), 1 (0.0%)".
        var correct = 0
        var lines = 0
        for line in result.stdout.split(separator: "\n") {
            guard let colon = line.range(of: ".jpg: ") else { continue }
            lines += 1
            let name = line[..<colon.lowerBound]
            let expected = name.split(separator: "_label").last.map(String.init)
            let predicted = line[colon.upperBound...].split(separator: " ").first.map(String.init)
            #expect(line.components(separatedBy: "%)").count - 1 == 2, "--top 2 should print two classes: \(line)")
            if let expected, expected == predicted { correct += 1 }
        }
        print("digits JPEGs: \(correct)/\(images.count) top-1 correct (run \(result.seconds) s)")
        #expect(lines == 12, "stdout: \(result.stdout)")
        #expect(correct >= 10, "only \(correct)/12 JPEGs predicted as their file name's label:\n\(result.stdout)")
    }

    @Test func convertRefusesToOverwriteItsInput() throws {
        let folder = try TemporaryFolder()
        // A checkpoint saved under a .wren name gets past the extension check, so the
        // same-file guard itself is what must refuse.
        let checkpoint = folder.path("checkpoint.wren")
        try FileManager.default.copyItem(atPath: CLIFixtures.biasCheckpoint, toPath: checkpoint)
        let before = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        let result = try WrenExecutable.run(["convert", checkpoint, "-o", checkpoint, "--calibration", CLIFixtures.biasInput])
        expectCleanFailure(result, "convert X -o X")
        #expect(result.stderr.contains("would overwrite the input"), "stderr: \(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: checkpoint)) == before, "the input was modified")

        // The usual spelling, -o model.pth, is stopped earlier by the .wren extension check.
        let pth = folder.path("model.pth")
        try FileManager.default.copyItem(atPath: CLIFixtures.biasCheckpoint, toPath: pth)
        let pthBefore = try Data(contentsOf: URL(fileURLWithPath: pth))
        let second = try WrenExecutable.run(["convert", pth, "-o", pth, "--calibration", CLIFixtures.biasInput])
        expectCleanFailure(second, "convert X.pth -o X.pth")
        #expect(try Data(contentsOf: URL(fileURLWithPath: pth)) == pthBefore, "the input was modified")
    }

    @Test(arguments: ["inspect", "run"])
    func corruptWrenFailsOnChecksum(subcommand: String) throws {
        let folder = try TemporaryFolder()
        let model = try convertBiasModel(into: folder)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: model)))
        bytes[bytes.count / 2] ^= 0x01
        let corrupt = folder.path("corrupt.wren")
        try Data(bytes).write(to: URL(fileURLWithPath: corrupt))
        let arguments = subcommand == "run" ? ["run", corrupt, CLIFixtures.biasInput] : ["inspect", corrupt]
        let result = try WrenExecutable.run(arguments)
        expectCleanFailure(result, "wren \(subcommand) corrupt.wren")
        #expect(result.stderr.contains("checksum"), "stderr: \(result.stderr)")
    }

    @Test(arguments: ["convert", "run-model", "run-input", "inspect", "calibration"])
    func missingFileIsNamed(role: String) throws {
        let folder = try TemporaryFolder()
        let missing = folder.path("no_such_file_\(role)")
        let arguments: [String]
        switch role {
        case "convert": arguments = ["convert", missing + ".pth", "-o", folder.path("out.wren")]
        case "calibration": arguments = ["convert", CLIFixtures.biasCheckpoint, "-o", folder.path("out.wren"), "--calibration", missing + ".npy"]
        case "run-model": arguments = ["run", missing + ".wren", CLIFixtures.biasInput]
        case "run-input": arguments = ["run", CLIFixtures.biasCheckpoint, missing + ".npy"]
        default: arguments = ["inspect", missing + ".wren"]
        }
        let result = try WrenExecutable.run(arguments)
        expectCleanFailure(result, "wren \(arguments.joined(separator: " "))")
        #expect(result.stderr.contains(missing), "stderr should name \(missing): \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.path("out.wren")))
    }

    @Test(arguments: ["convert", "run", "inspect"])
    func helpTeachesWithExamples(subcommand: String) throws {
        let result = try WrenExecutable.run([subcommand, "--help"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("Examples"), "wren \(subcommand) --help:\n\(result.stdout)")
        #expect(result.stdout.contains("wren \(subcommand) "), "help should show a wren \(subcommand) command line")
    }
}
