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
        #expect(result.stderr.contains("cannot read '\(missing)': No such file or directory"), "stderr: \(result.stderr)")
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

    /// bench counts the work outside padding as tools/count_macs.py counts it with PyTorch
    /// (tools/count_macs.out), so its G MAC/s can be set against tools/int8_peak.c.
    @Test(arguments: [(32, 41_024_064), (128, 697_590_336)])
    func benchCountsTheMultiplyAccumulatesOutsidePadding(size: Int, expected: Int) throws {
        let folder = try TemporaryFolder()
        let model = try SyntheticModels.write(try SyntheticModels.biasModel(height: size, width: size).quantized, to: folder, as: "m.wren")
        let result = try WrenExecutable.run(["bench", model, "--iterations", "1", "--warmup", "0", "--json"])
        try #require(result.status == 0, "stderr: \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["useful_macs_per_image"] as? Int == expected)
        #expect((object["useful_gmacs_per_s"] as? Double).map { $0 > 0 } == true)
    }

    /// bench --profile times every step: input, each conv (with what is fused into it), the
    /// classifier; their work adds up to the model's and their shares to the whole.
    @Test func benchProfilesEveryLayer() throws {
        let folder = try TemporaryFolder()
        let model = try SyntheticModels.write(try SyntheticModels.biasModel(height: 32, width: 32).quantized, to: folder, as: "m.wren")
        let result = try WrenExecutable.run(["bench", model, "--iterations", "3", "--warmup", "1", "--profile", "--json"])
        try #require(result.status == 0, "stderr: \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let steps = try #require(object["profile"] as? [[String: Any]])
        #expect(steps.first?["name"] as? String == "input")
        #expect(steps.last?["name"] as? String == "logits" && steps.last?["op"] as? String == "pool+linear")
        // WRN-10-2: the stem, two per block and three 1x1 shortcuts (every group changes width).
        #expect(steps.filter { ($0["op"] as? String)?.hasPrefix("conv") == true }.count == 10, "\(steps.map { $0["op"] ?? "" })")
        let work = steps.compactMap { $0["useful_macs"] as? Int }.reduce(0, +)
        #expect(work == object["useful_macs_per_image"] as? Int)
        let shares = steps.compactMap { $0["share"] as? Double }
        #expect(shares.count == steps.count && abs(shares.reduce(0, +) - 1) < 1e-9 && shares.allSatisfy { $0 >= 0 })
        let text = try WrenExecutable.run(["bench", model, "--iterations", "3", "--warmup", "1", "--profile"])
        #expect(text.stdout.contains("per layer") && text.stdout.contains("block3.layer.0.convShortcut"), "\(text.stdout)")
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

    // MARK: One style for files that cannot be read

    /// Every command names an unreadable file the same way, as the importers and decoders do.
    @Test(arguments: [
        ["inspect", "<missing>"], ["bench", "<missing>"], ["run", "<missing>", "<input>"], ["convert", "<missing>", "-o", "<out>"],
        ["inspect", "<folder>"], ["bench", "<folder>"], ["run", "<folder>.wren", "<input>"], ["convert", "<folder>", "-o", "<out>"],
        ["validate", "<missing>", "--reference", "<checkpoint>", "--data", "<input>"],
    ])
    func unreadableFilesAreNamedInOneStyle(arguments: [String]) throws {
        let folder = try TemporaryFolder()
        try FileManager.default.createDirectory(atPath: folder.path("dir.wren"), withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: folder.path("dir"), withIntermediateDirectories: false)
        let substituted = arguments.map { argument -> String in
            switch argument {
            case "<missing>": return folder.path("nope.wren")
            case "<folder>": return folder.path("dir")
            case "<folder>.wren": return folder.path("dir.wren")
            case "<input>": return CLIFixtures.biasInput
            case "<checkpoint>": return CLIFixtures.biasCheckpoint
            case "<out>": return folder.path("out.wren")
            default: return argument
            }
        }
        let result = try WrenExecutable.run(substituted)
        expectCleanFailure(result, arguments.joined(separator: " "))
        let named = ["No such file or directory", "Is a directory"].contains { reason in
            result.stderr.contains("cannot read '\(folder.path("nope.wren"))': \(reason)")
                || result.stderr.contains("cannot read '\(folder.path("dir"))': \(reason)")
                || result.stderr.contains("cannot read '\(folder.path("dir.wren"))': \(reason)")
        }
        #expect(named, "\(arguments): \(result.stderr)")
    }

    /// A missing --resume is refused before the photos are decoded.
    @Test func missingResumeCheckpointIsRefusedBeforeDecoding() throws {
        let folder = try TemporaryFolder()
        let result = try WrenExecutable.run([
            "train", WrenExecutable.fixture("fixtures/photos"), "-o", folder.path("t.safetensors"), "--resume", folder.path("nope.safetensors")])
        expectCleanFailure(result, "train --resume nope.safetensors")
        #expect(result.stderr.contains("cannot read '\(folder.path("nope.safetensors"))': No such file or directory"), "\(result.stderr)")
        #expect(!result.stderr.contains("decod"), "work started before the checkpoint was checked: \(result.stderr)")
    }

    /// The synthetic-calibration warning comes before the checkpoint is read, not after a long load.
    @Test func syntheticCalibrationWarningComesBeforeTheLoad() throws {
        let folder = try TemporaryFolder()
        let notACheckpoint = folder.path("notes.pth")
        try Data("not a checkpoint\n".utf8).write(to: URL(fileURLWithPath: notACheckpoint))
        let result = try WrenExecutable.run(["convert", notACheckpoint, "-o", folder.path("m.wren")])
        expectCleanFailure(result, "convert notes.pth without --calibration")
        let warning = try #require(result.stderr.range(of: "no --calibration given"), "\(result.stderr)")
        let error = try #require(result.stderr.range(of: "Error: "), "\(result.stderr)")
        #expect(warning.lowerBound < error.lowerBound, "\(result.stderr)")
    }

    // MARK: Limits with an override

    @Test(arguments: ["run", "bench", "validate"])
    func anArenaOverTheCapNamesTheOptionThatAllowsIt(command: String) throws {
        let folder = try TemporaryFolder()
        // At 128x128 the WRN-10-2's arena needs about 4 MiB for one image (inspect: 265 KB at 32x32).
        let model = try SyntheticModels.write(try SyntheticModels.biasModel(height: 128, width: 128).quantized, to: folder, as: "m.wren")
        let tail: [String]
        switch command {
        case "run": tail = [CLIFixtures.digitImages]
        case "validate": tail = ["--reference", CLIFixtures.biasCheckpoint, "--data", CLIFixtures.digitImages, "--limit", "2"]
        default: tail = ["--iterations", "1", "--warmup", "0"]
        }
        let capped = "1"
        let refused = try WrenExecutable.run([command, model] + tail + ["--max-arena-mb", capped])
        expectCleanFailure(refused, "\(command) --max-arena-mb \(capped)")
        #expect(refused.stderr.contains("--max-arena-mb ") && refused.stderr.contains("allows it"), "\(refused.stderr)")
        let needed = try #require(refused.stderr.components(separatedBy: "--max-arena-mb ").last?.split(separator: " ").first.flatMap { Int($0) })
        #expect(needed > Int(capped)!, "\(refused.stderr)")
        if command != "bench" {
            let allowed = try WrenExecutable.run([command, model] + tail + ["--max-arena-mb", "\(needed)"])
            #expect(allowed.status == 0, "with the advised cap: \(allowed.stderr)")
        }
    }

    @Test func aCheckpointOverAnImportLimitNamesTheOptionThatRaisesIt() throws {
        let folder = try TemporaryFolder()
        let output = folder.path("m.wren")
        let tooSmall = try WrenExecutable.run([
            "convert", CLIFixtures.biasCheckpoint, "-o", output, "--calibration", CLIFixtures.biasInput, "--max-parsed-values", "100"])
        expectCleanFailure(tooSmall, "convert --max-parsed-values 100")
        #expect(tooSmall.stderr.contains("(wren: --max-parsed-values)"), "\(tooSmall.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
        let run = try WrenExecutable.run(["run", CLIFixtures.biasCheckpoint, CLIFixtures.biasInput, "--max-checkpoint-mb", "2", "--quiet"])
        #expect(run.status == 0, "a 2 MiB cap admits the 1.2 MB fixture: \(run.stderr)")
        let bigger = try WrenExecutable.run(["run", CLIFixtures.digitsCheckpoint, CLIFixtures.digitsTestX, "--max-checkpoint-mb", "2", "--quiet"])
        expectCleanFailure(bigger, "run a 2.8 MB checkpoint with --max-checkpoint-mb 2")
        #expect(bigger.stderr.contains("(wren: --max-checkpoint-mb)"), "\(bigger.stderr)")
    }

    // MARK: Fast by default, and the same answer on every thread count and kernel

    @Test func validateGivesTheSameReportOnEveryThreadCountAndKernel() throws {
        let folder = try TemporaryFolder()
        let model = try SyntheticModels.write(try SyntheticModels.biasModel(height: 32, width: 32).quantized, to: folder, as: "m.wren")
        var reports: [Data] = []
        for options in [["--threads", "1", "--kernels", "portable"], ["--threads", "2"], ["--threads", "1", "--kernels", "reference"]] {
            let json = folder.path("r\(reports.count).json")
            let result = try WrenExecutable.run(
                ["validate", model, "--reference", CLIFixtures.biasCheckpoint, "--data", CLIFixtures.biasInput, "--json", json] + options)
            try #require(result.status == 0, "\(options): \(result.stderr)")
            reports.append(try Data(contentsOf: URL(fileURLWithPath: json)))
        }
        #expect(reports.dropFirst().allSatisfy { $0 == reports[0] }, "the report depends on threads or kernels")
    }

    // MARK: Names and help

    @Test func convertsOldLabelsSpellingStillWorksWithANote() throws {
        let folder = try TemporaryFolder()
        let old = try WrenExecutable.run([
            "convert", CLIFixtures.biasCheckpoint, "-o", folder.path("old.wren"), "--calibration", CLIFixtures.biasInput, "--labels", "a,b,c"])
        try #require(old.status == 0, "\(old.stderr)")
        #expect(old.stderr.contains("--labels is now --class-names"), "\(old.stderr)")
        let new = try WrenExecutable.run([
            "convert", CLIFixtures.biasCheckpoint, "-o", folder.path("new.wren"), "--calibration", CLIFixtures.biasInput, "--class-names", "a,b,c"])
        try #require(new.status == 0, "\(new.stderr)")
        #expect(!new.stderr.contains("--labels"), "\(new.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path("old.wren"))) == Data(contentsOf: URL(fileURLWithPath: folder.path("new.wren"))))
        let both = try WrenExecutable.run([
            "convert", CLIFixtures.biasCheckpoint, "-o", folder.path("both.wren"), "--labels", "a,b,c", "--class-names", "a,b,c"])
        expectCleanFailure(both, "convert --labels and --class-names")
    }

    /// Paragraphs are single lines for ArgumentParser to wrap to the terminal, so a wide terminal
    /// shows a sentence the source breaks across lines on one line, and a narrow one no line
    /// of the discussion longer than its width.
    @Test func helpWrapsToTheTerminal() throws {
        let wide = try WrenExecutable.run(["run", "--help"], environment: ["COLUMNS": "200"])
        #expect(wide.stdout.contains("how often the two agree on the top class and how far their logits are apart"), "\(wide.stdout)")
        let narrow = try WrenExecutable.run(["validate", "--help"], environment: ["COLUMNS": "60"])
        let discussion = narrow.stdout.components(separatedBy: "Examples:").first ?? ""
        #expect(discussion.split(separator: "\n").allSatisfy { $0.count <= 60 }, "\(discussion)")
        #expect(!discussion.split(separator: "\n").contains { $0.count < 20 && $0.first != " " && $0.last != "." && $0.last != ":" },
                "ragged half-lines: \(discussion)")
    }
}
