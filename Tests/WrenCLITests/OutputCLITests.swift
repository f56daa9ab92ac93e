import Foundation
import Glibc
import Testing

/// Outputs are checked before any work (issue 15, item 7): a link to an input, a FIFO or a device
/// is refused at once and left as it was; a killed writer's leftover goes with the next write.
@Suite("wren outputs")
struct OutputCLITests {
    /// The command writing `output`, for each option that writes a file.
    static func command(_ option: String, output: String) -> [String] {
        switch option {
        case "-o": return ["convert", CLIFixtures.biasCheckpoint, "-o", output, "--calibration", CLIFixtures.biasInput]
        case "--logits": return ["run", CLIFixtures.biasCheckpoint, CLIFixtures.biasInput, "--logits", output]
        default:
            // validate() refuses the output before run() would notice that the model is no .wren.
            return ["validate", CLIFixtures.biasCheckpoint, "--reference", CLIFixtures.biasCheckpoint,
                    "--data", CLIFixtures.biasInput, option, output]
        }
    }

    static func outputName(_ option: String) -> String {
        ["-o": "out.wren", "--logits": "out.npy", "--json": "out.json", "--chart": "out.svg"][option]!
    }

    @Test(arguments: ["-o", "--logits", "--json", "--chart"])
    func fifoOutputIsRefusedBeforeWork(option: String) throws {
        let folder = try TemporaryFolder()
        let output = folder.path(Self.outputName(option))
        try #require(mkfifo(output, 0o644) == 0)
        let result = try WrenExecutable.run(Self.command(option, output: output))
        expectCleanFailure(result, "\(option) FIFO")
        #expect(result.stderr.contains("is a FIFO, not a regular file"), "stderr: \(result.stderr)")
        var status = stat()
        #expect(lstat(output, &status) == 0 && (status.st_mode & S_IFMT) == S_IFIFO, "the FIFO was replaced")
    }

    @Test(arguments: ["-o", "--logits"])
    func linkToADeviceIsRefused(option: String) throws {
        let folder = try TemporaryFolder()
        let output = folder.path(Self.outputName(option))
        try FileManager.default.createSymbolicLink(atPath: output, withDestinationPath: "/dev/null")
        let result = try WrenExecutable.run(Self.command(option, output: output))
        expectCleanFailure(result, "\(option) link to /dev/null")
        #expect(result.stderr.contains("is a character device"), "stderr: \(result.stderr)")
    }

    /// -o a link to the checkpoint: refused before the checkpoint is even read (no calibration runs).
    @Test func outputLinkedToTheInputIsRefusedBeforeConverting() throws {
        let folder = try TemporaryFolder()
        let checkpoint = folder.path("model.pth")
        try FileManager.default.copyItem(atPath: CLIFixtures.biasCheckpoint, toPath: checkpoint)
        let link = folder.path("model.wren")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: checkpoint)
        let before = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        let result = try WrenExecutable.run(["convert", checkpoint, "-o", link, "--calibration", CLIFixtures.biasInput])
        expectCleanFailure(result, "convert -o link-to-input")
        #expect(result.stderr.contains("would overwrite the input"), "stderr: \(result.stderr)")
        #expect(!result.stderr.contains("calibrating"), "refused only after calibrating: \(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: checkpoint)) == before)
    }

    @Test func leftoverOfAKilledConvertIsRemovedByTheNextOne() throws {
        let folder = try TemporaryFolder()
        let leftover = folder.path(".out.wren.tmp-Xy9Z0a")
        try Data([0x57, 0x52]).write(to: URL(fileURLWithPath: leftover))  // truncated, as SIGKILL leaves it
        let result = try WrenExecutable.run(Self.command("-o", output: folder.path("out.wren")))
        #expect(result.exited && result.status == 0, "stderr: \(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.url.path).sorted() == ["out.wren"])
    }
}
