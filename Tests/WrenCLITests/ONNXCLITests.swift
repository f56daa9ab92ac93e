import Foundation
import Testing

/// `wren convert model.onnx` and `wren run model.onnx x.npy` on the exports of
/// tools/make_onnx_fixtures.py (fixtures/onnx/).
@Suite struct ONNXCLITests {
    static func fixture(_ name: String) -> String { WrenExecutable.fixture("fixtures/onnx/\(name)") }

    /// The float reference straight from an ONNX file whose weights are external data reproduces
    /// PyTorch's logits.
    @Test func runOnnxGivesTheExportersLogits() throws {
        let folder = try TemporaryFolder()
        let logits = folder.path("logits.npy")
        let name = "wrn10_1_op13_external"
        let result = try WrenExecutable.run(["run", Self.fixture("\(name).onnx"), Self.fixture("\(name).input.npy"), "--logits", logits])
        try #require(result.status == 0 && result.exited, "run failed: \(result.stderr)")
        let got = try NpyFloat32(path: logits), expected = try NpyFloat32(path: Self.fixture("\(name).logits.npy"))
        #expect(got.shape == expected.shape)
        let scale = expected.values.map(\.magnitude).max()!
        let worst = zip(got.values, expected.values).map { ($0 - $1).magnitude }.max()!
        #expect(worst <= 1e-4 * scale, "max |Δ| \(worst)")
    }

    /// convert writes an int8 model from a paddle2onnx export, which then runs and agrees with the
    /// float reference (the ONNX file itself) through --reference.
    @Test func convertOnnxWritesARunnableModel() throws {
        let folder = try TemporaryFolder()
        let model = folder.path("paddle.wren")
        let name = "wrn10_1_paddle"
        let convert = try WrenExecutable.run(["convert", Self.fixture("\(name).onnx"), "-o", model, "--calibration", Self.fixture("\(name).input.npy")])
        try #require(convert.status == 0 && convert.exited, "convert failed: \(convert.stderr)")
        #expect(convert.stdout.contains("WRN-10-1"), "stdout: \(convert.stdout)")
        let run = try WrenExecutable.run(["run", model, Self.fixture("\(name).input.npy"), "--reference", Self.fixture("\(name).onnx")])
        #expect(run.status == 0 && run.exited, "run failed: \(run.stderr)")
    }

    /// A graph that is not a WRN fails cleanly, naming the node.
    @Test func convertNamesTheNodeThatDoesNotFit() throws {
        let folder = try TemporaryFolder()
        let result = try WrenExecutable.run(["convert", Self.fixture("not_wrn_extra_sigmoid.onnx"), "-o", folder.path("x.wren")])
        expectCleanFailure(result, "convert not_wrn_extra_sigmoid.onnx")
        #expect(result.stderr.contains("'extra_sigmoid'"), "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.path("x.wren")))
    }

    @Test func convertHelpListsOnnx() throws {
        let result = try WrenExecutable.run(["convert", "--help"])
        #expect(result.status == 0)
        // The argument's help is wrapped to the terminal width, so only short pieces are looked for.
        #expect(result.stdout.contains("ONNX models of a WRN") && result.stdout.contains("paddle2onnx") && result.stdout.contains("(.onnx)"),
                "\(result.stdout)")
    }
}
