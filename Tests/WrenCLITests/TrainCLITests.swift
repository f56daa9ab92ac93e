import Foundation
import Testing

/// `wren train` as a user runs it: fine-tuning an imported checkpoint, a new network from scratch,
/// the checkpoint it writes read back by `wren convert` and `wren run`, and refused mistakes.
@Suite("wren train")
struct TrainCLITests {
    /// The safetensors header of `path`: key → (dtype, shape).
    static func header(_ path: String) throws -> [String: (dtype: String, shape: [Int])] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let json = try #require(try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + length))) as? [String: Any])
        var entries: [String: (String, [Int])] = [:]
        for (key, value) in json where key != "__metadata__" {
            let entry = try #require(value as? [String: Any])
            entries[key] = (try #require(entry["dtype"] as? String), try #require(entry["shape"] as? [Int]))
        }
        return entries
    }

    @Test func fineTunesAnImportedCheckpointThatConvertsAndRuns() throws {
        let folder = try TemporaryFolder()
        let output = folder.path("tuned.safetensors")
        let train = try WrenExecutable.run([
            "train", "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY, "--init", CLIFixtures.digitsCheckpoint,
            "--epochs", "2", "--batch", "60", "--optimizer", "adam", "--lr", "1e-4", "--no-shuffle", "--threads", "2", "-o", output,
        ])
        #expect(train.status == 0 && train.exited, "stderr: \(train.stderr)")
        let epochLines = train.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }
        #expect(epochLines.count == 2, "stdout: \(train.stdout)")
        // A trained digits model fine-tuned gently on images it already knows stays accurate.
        let accuracy = epochLines.last.flatMap { line in
            line.components(separatedBy: "acc ").dropFirst().first?.split(separator: "%").first.flatMap { Double($0) }
        }
        #expect((accuracy ?? 0) >= 97, "last epoch: \(epochLines.last ?? "none")")
        #expect(epochLines.last?.contains("steady") == true, "\(epochLines.last ?? "")")

        let entries = try Self.header(output)
        // WRN-16-2's state dict: conv1, 6 blocks × (bn1 ×5, conv1, bn2 ×5, conv2) + 3 shortcuts, bn1 ×5, fc ×2.
        #expect(entries.count == 1 + 6 * 12 + 3 + 5 + 2, "\(entries.count) tensors")
        #expect(entries["fc.weight"]?.shape == [10, 128] && entries["fc.weight"]?.dtype == "F32")
        #expect(entries["block1.layer.0.bn1.num_batches_tracked"]?.dtype == "I64")
        #expect(entries["block1.layer.0.bn1.num_batches_tracked"]?.shape == [])
        #expect(entries["block3.layer.1.conv2.weight"]?.shape == [128, 128, 3, 3])

        let model = folder.path("tuned.wren")
        let convert = try WrenExecutable.run(["convert", output, "-o", model, "--calibration", CLIFixtures.digitsCalibration])
        #expect(convert.status == 0, "stderr: \(convert.stderr)")
        #expect(convert.stdout.contains("WRN-16-2, 10 classes"), "stdout: \(convert.stdout)")
        let run = try WrenExecutable.run(["run", model, CLIFixtures.digitsTestX, "--reference", output, "--labels", CLIFixtures.digitsTestY, "--quiet"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.contains("int8 accuracy"), "stdout: \(run.stdout)")
    }

    @Test func trainsANewNetworkAndReportsTheTestSet() throws {
        let folder = try TemporaryFolder()
        let output = folder.path("new.safetensors")
        let result = try WrenExecutable.run([
            "train", "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY,
            "--test-data", CLIFixtures.digitsCalibration, "--test-labels", CLIFixtures.digitsTestY,
            "--depth", "10", "--widen", "1", "--epochs", "1", "--batch", "64", "--optimizer", "adamw", "--schedule", "cosine", "-o", output,
        ])
        // 200 calibration images against 360 labels: refused before any training, naming the file.
        expectCleanFailure(result, "train with mismatched test labels")
        #expect(result.stderr.contains("test_y.npy: 360 labels for the 200 images of"), "stderr: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))

        let good = try WrenExecutable.run([
            "train", "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY,
            "--test-data", CLIFixtures.digitsTestX, "--test-labels", CLIFixtures.digitsTestY,
            "--depth", "10", "--widen", "1", "--conv-bias", "--dropout", "0.2", "--epochs", "2", "--batch", "64",
            "--optimizer", "sgd", "--nesterov", "--schedule", "multistep:1:0.5", "--seed", "3", "-o", output,
        ])
        #expect(good.status == 0, "stderr: \(good.stderr)")
        #expect(good.stdout.contains("WRN-10-1 (10 classes, conv biases"), "stdout: \(good.stdout)")
        #expect(good.stdout.contains("epoch 2/2  lr 0.05"), "the multistep schedule halves the lr at epoch 1: \(good.stdout)")
        #expect(good.stdout.contains("test loss"), "stdout: \(good.stdout)")
        #expect(try Self.header(output)["conv1.bias"]?.shape == [16])
    }

    @Test func refusesMistakesBeforeTraining() throws {
        let folder = try TemporaryFolder()
        let output = folder.path("x.safetensors")
        let base = ["train", "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY, "-o", output]
        for (extra, expected) in [
            (["--depth", "11", "--widen", "1"], "6N+4"),
            (["--widen", "2"], "--depth"),
            (["--init", CLIFixtures.digitsCheckpoint, "--depth", "16", "--widen", "2"], "--init"),
            (["--depth", "10", "--widen", "1", "--optimizer", "rmsprop"], "sgd, adam or adamw"),
            (["--depth", "10", "--widen", "1", "--schedule", "multistep:x:0.1"], "--schedule"),
            (["--depth", "10", "--widen", "1", "--lr", "nan"], "learning rate"),
        ] {
            let result = try WrenExecutable.run(base + extra)
            expectCleanFailure(result, "train \(extra)")
            #expect(result.stderr.contains(expected), "\(extra): \(result.stderr)")
        }
        let labels = try WrenExecutable.run(["train", "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsCalibration,
                                             "--depth", "10", "--widen", "1", "-o", output])
        expectCleanFailure(labels, "train with float labels")
        #expect(!FileManager.default.fileExists(atPath: output))
    }
}
