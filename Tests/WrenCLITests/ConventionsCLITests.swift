import Foundation
import Testing

/// The conventions of issue 15 that users expect: problems found before any work, --version,
/// machine-readable run output, a time budget for bench.
@Suite("wren conventions")
struct ConventionsCLITests {
    @Test func versionIsPrinted() throws {
        let result = try WrenExecutable.run(["--version"])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout == "0.1.0\n", "stdout: \(result.stdout)")
    }

    /// A missing --reference is named before any input is classified (nothing on stdout).
    @Test(arguments: ["run", "validate"])
    func missingReferenceIsNamedBeforeWork(command: String) throws {
        let folder = try TemporaryFolder()
        let missing = folder.path("nope.pth")
        let arguments = command == "run"
            ? ["run", CLIFixtures.biasCheckpoint, CLIFixtures.biasInput, "--reference", missing]
            : ["validate", CLIFixtures.biasCheckpoint, "--reference", missing, "--data", CLIFixtures.biasInput]
        let result = try WrenExecutable.run(arguments)
        expectCleanFailure(result, "\(command) --reference nope.pth")
        #expect(result.stderr.contains("\(missing): no such file"), "stderr: \(result.stderr)")
        #expect(result.stdout.isEmpty, "stdout: \(result.stdout)")
    }

    @Test func logitsInAMissingFolderAreRefusedBeforeWork() throws {
        let folder = try TemporaryFolder()
        let result = try WrenExecutable.run(["run", CLIFixtures.biasCheckpoint, CLIFixtures.biasInput, "--logits", folder.path("nodir/l.npy")])
        expectCleanFailure(result, "run --logits nodir/l.npy")
        #expect(result.stderr.contains("does not exist"), "stderr: \(result.stderr)")
        #expect(result.stdout.isEmpty, "predictions printed before the output was refused: \(result.stdout)")
    }

    @Test func shortLabelsAreRefusedBeforePredictions() throws {
        let result = try WrenExecutable.run([
            "run", CLIFixtures.digitsCheckpoint, CLIFixtures.digitsTestX, "--labels", WrenExecutable.fixture("fixtures/models/wrn10_2_c3_bias.logits.npy")])
        expectCleanFailure(result, "run --labels of the wrong kind")
        #expect(result.stdout.isEmpty, "stdout: \(result.stdout.prefix(300))")
    }

    @Test func runJSONListsTopClassesPerInput() throws {
        let result = try WrenExecutable.run(["run", CLIFixtures.biasCheckpoint, CLIFixtures.biasInput, "--top", "2", "--json"])
        try #require(result.status == 0, "stderr: \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["kind"] as? String == "float")
        let inputs = try #require(object["inputs"] as? [[String: Any]])
        #expect(inputs.count == 4)
        let first = try #require(inputs.first)
        #expect(first["file"] as? String == "\(CLIFixtures.biasInput)[0]")
        let top = try #require(first["top"] as? [[String: Any]])
        #expect(top.count == 2)
        let probabilities = top.compactMap { $0["probability"] as? Double }
        #expect(probabilities.count == 2 && probabilities[0] >= probabilities[1] && probabilities.allSatisfy { (0...1).contains($0) })
        #expect(top.allSatisfy { ($0["class"] as? Int).map { (0..<3).contains($0) } ?? false })
    }

    @Test func benchRunsForTheGivenSeconds() throws {
        let folder = try TemporaryFolder()
        let model = try SyntheticModels.write(try SyntheticModels.biasModel(height: 32, width: 32).quantized, to: folder, as: "m.wren")
        let result = try WrenExecutable.run(["bench", model, "--seconds", "0.5", "--warmup", "1", "--json"])
        try #require(result.status == 0, "stderr: \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let calls = try #require(object["iterations"] as? Int)
        #expect(calls >= 1 && calls != 100, "--seconds 0.5 made \(calls) calls")
        #expect(result.seconds >= 0.5, "took \(result.seconds) s")
        let refused = try WrenExecutable.run(["bench", model, "--seconds", "0"])
        expectCleanFailure(refused, "bench --seconds 0")
    }

    @Test func inspectJSONDescribesTheModel() throws {
        let folder = try TemporaryFolder()
        let model = try SyntheticModels.write(try SyntheticModels.biasModel(height: 40, width: 40).quantized, to: folder, as: "m.wren")
        let result = try WrenExecutable.run(["inspect", model, "--json"])
        try #require(result.status == 0, "stderr: \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["architecture"] as? String == "WRN-10-2")
        #expect(object["numClasses"] as? Int == 3)
        #expect((object["input"] as? [String: Any])?["shape"] as? [Int] == [3, 40, 40])
        let layers = try #require(object["layers"] as? [[String: Any]])
        #expect(layers.last?["output"] as? String == "logits")
        #expect((object["tensors"] as? [[String: Any]])?.first?["name"] as? String == "input")
        #expect((object["metadata"] as? [String: String])?["depth"] == "10")
    }
}
