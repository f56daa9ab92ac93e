import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `wren train --resume`: a run continued from its checkpoint ends with the uninterrupted run's
/// weights to the bit (.npy and photo forms, after an epoch or after Ctrl-C inside one), other
/// options are refused by name, and a diverging run keeps its last good checkpoint.
@Suite("wren train --resume")
struct ResumeCLITests {
    /// The tensor bytes of a .safetensors file (everything after the header) and its metadata.
    static func contents(_ path: String) throws -> (data: Data, metadata: [String: String]) {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let json = try #require(try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + length))) as? [String: Any])
        return (bytes.subdata(in: (8 + length)..<bytes.count), json["__metadata__"] as? [String: String] ?? [:])
    }

    static let arrays = ["--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY, "--depth", "10", "--widen", "1",
                         "--batch", "32", "--threads", "2", "--dropout", "0.3", "--augment", "hflip,crop", "--seed", "3"]

    static func epochLines(_ stdout: String) -> [String] {
        // Without the timing at the end, which differs between runs.
        stdout.split(separator: "\n").filter { $0.hasPrefix("epoch ") }.map { $0.components(separatedBy: "  ").prefix(3).joined(separator: "  ") }
    }

    @Test func arraysResumedAfterTwoEpochsEqualFourEpochs() throws {
        let folder = try TemporaryFolder()
        let whole = folder.path("whole.safetensors"), part = folder.path("part.safetensors")
        let four = try WrenExecutable.run(["train"] + Self.arrays + ["--epochs", "4", "-o", whole])
        #expect(four.status == 0, "stderr: \(four.stderr)")
        let two = try WrenExecutable.run(["train"] + Self.arrays + ["--epochs", "2", "-o", part])
        #expect(two.status == 0, "stderr: \(two.stderr)")
        #expect(FileManager.default.fileExists(atPath: folder.path("part.state.safetensors")))
        #expect(try Self.contents(part).data != Self.contents(whole).data)
        let resumed = try WrenExecutable.run(["train"] + Self.arrays + ["--epochs", "4", "--resume", part, "-o", part])
        #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
        #expect(resumed.stdout.contains("resuming \(part) after epoch 2 (24 steps taken)"), "stdout: \(resumed.stdout)")
        #expect(Self.epochLines(resumed.stdout) == Array(Self.epochLines(four.stdout).suffix(2)), "stdout: \(resumed.stdout)")
        let (resumedData, resumedMetadata) = try Self.contents(part)
        #expect(resumedData == (try Self.contents(whole).data), "the resumed run's tensors differ from the 4-epoch run's")
        #expect(resumedMetadata["wren.epoch"] == "4")

        // Nothing is left to do at 4 epochs; other options are refused by name.
        let again = try WrenExecutable.run(["train"] + Self.arrays + ["--epochs", "4", "--resume", part, "-o", part])
        #expect(again.status != 0 && again.stderr.contains("already trained 4 epochs"), "stderr: \(again.stderr)")
        let other = try WrenExecutable.run(["train"] + Self.arrays + ["--epochs", "6", "--resume", part, "-o", folder.path("o.safetensors"),
                                                                     "--depth", "16", "--optimizer", "adam"])
        #expect(other.status != 0, "stdout: \(other.stdout)")
        for expected in ["now WRN-16-1, 10 classes, the run had WRN-10-1, 10 classes", "--optimizer: now adam, the run had sgd",
                         "--lr: now 0.001, the run had 0.1"] {
            #expect(other.stderr.contains(expected), "stderr: \(other.stderr)")
        }
        let noState = folder.path("nostate.safetensors")
        try FileManager.default.copyItem(atPath: whole, toPath: noState)
        try FileManager.default.removeItem(atPath: folder.path("whole.state.safetensors"))
        let missing = try WrenExecutable.run(["train"] + Self.arrays + ["--epochs", "6", "--resume", noState, "-o", noState])
        #expect(missing.status != 0 && missing.stderr.contains("nostate.state.safetensors beside it"), "stderr: \(missing.stderr)")
    }

    @Test func otherLabelsAreOtherData() throws {
        let folder = try TemporaryFolder()
        let part = folder.path("part.safetensors")
        #expect(try WrenExecutable.run(["train"] + Self.arrays + ["--epochs", "1", "-o", part]).status == 0)
        // The same images with one label changed.
        let labels = folder.path("labels.npy")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: CLIFixtures.digitsTestY))
        let last = bytes.count - 8  // the last int64 label
        bytes[last] = bytes[last] == 0 ? 1 : 0
        try bytes.write(to: URL(fileURLWithPath: labels))
        var arguments = Self.arrays
        arguments[3] = labels
        let result = try WrenExecutable.run(["train"] + arguments + ["--epochs", "2", "--resume", part, "-o", part])
        #expect(result.status != 0)
        #expect(result.stderr.contains("the training data: now 360 images of 32x32, fingerprint"), "stderr: \(result.stderr)")
    }

    @Test func photosResumedAfterOneEpochEqualTwoEpochs() throws {
        let folder = try TemporaryFolder()
        let whole = folder.path("whole.safetensors"), part = folder.path("part.safetensors")
        let photos = [PhotoTrainCLITests.photos] + PhotoTrainCLITests.small + ["--batch", "8"]
        let two = try WrenExecutable.run(["train"] + photos + ["--epochs", "2", "-o", whole])
        #expect(two.status == 0, "stderr: \(two.stderr)")
        #expect(try WrenExecutable.run(["train"] + photos + ["--epochs", "1", "-o", part]).status == 0)
        let resumed = try WrenExecutable.run(["train"] + photos + ["--epochs", "2", "--resume", part, "-o", part])
        #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
        #expect(try Self.contents(part).data == Self.contents(whole).data, "the resumed run's tensors differ from the 2-epoch run's")
        #expect(Self.epochLines(resumed.stdout) == Array(Self.epochLines(two.stdout).suffix(1)), "stdout: \(resumed.stdout)")
        // Another split is other training data.
        let split = try WrenExecutable.run(["train"] + photos + ["--epochs", "3", "--split", "0.5", "--resume", part, "-o", part])
        #expect(split.status != 0 && split.stderr.contains("the training data: now"), "stderr: \(split.stderr)")
    }

    /// The learning rate jumps ×1e7 at the third epoch: the run stops there naming the epoch and
    /// step, and OUT keeps epoch 2's finite weights.
    @Test func aDivergingRunKeepsTheLastGoodCheckpoint() throws {
        let folder = try TemporaryFolder()
        let output = folder.path("out.safetensors")
        let result = try WrenExecutable.run(["train", "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY,
                                             "--depth", "10", "--widen", "1", "--batch", "32", "--threads", "2", "--epochs", "3",
                                             "--schedule", "multistep:2:1e7", "-o", output])
        #expect(result.status != 0 && result.exited)
        #expect(result.stderr.contains("training diverged at step") && result.stderr.contains("in epoch 3, step "), "stderr: \(result.stderr)")
        #expect(result.stderr.contains("still hold the last good checkpoint, after epoch 2"), "stderr: \(result.stderr)")
        let (data, metadata) = try Self.contents(output)
        #expect(metadata["wren.epoch"] == "2")
        #expect(!data.isEmpty)
        let values = data.withUnsafeBytes { raw in (0..<(data.count / 4)).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self) } }
        // The int64 counters are small non-negative numbers, whose 32-bit halves are finite floats too.
        #expect(values.allSatisfy { Float(bitPattern: $0).isFinite })
    }

    /// Ctrl-C in the second epoch: exit 130 with how to resume; resumed, the run ends as an
    /// uninterrupted one does, to the bit.
    @Test func ctrlCSavesAResumableCheckpoint() throws {
        let folder = try TemporaryFolder()
        let whole = folder.path("whole.safetensors"), part = folder.path("part.safetensors")
        let options = Self.arrays.map { $0 == "32" ? "16" : $0 } + ["--epochs", "6"]
        #expect(try WrenExecutable.run(["train"] + options + ["-o", whole]).status == 0)

        let outURL = folder.url.appendingPathComponent("stdout"), errURL = folder.url.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try WrenExecutable.requirePath())
        process.arguments = ["train"] + options + ["-o", part]
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, process.isRunning,
              !(String(decoding: (try? Data(contentsOf: outURL)) ?? Data(), as: UTF8.self).contains("epoch 1/6")) {
            usleep(20_000)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let stdout = String(decoding: try Data(contentsOf: outURL), as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 130, "stdout: \(stdout)")
        #expect(stdout.contains("interrupted ") && stdout.contains("to continue, run the same command with --resume \(part)"),
                "stdout: \(stdout)")
        #expect(!stdout.contains("epoch 6/6"), "the run finished before the interrupt: \(stdout)")

        let resumed = try WrenExecutable.run(["train"] + options + ["--resume", part, "-o", part])
        #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
        #expect(resumed.stdout.contains("epoch 6/6"))
        #expect(try Self.contents(part).data == Self.contents(whole).data, "the interrupted and resumed run's tensors differ")
    }
}
