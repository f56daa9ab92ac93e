import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
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

    /// The `--curves` SVG read back: two panels (loss, accuracy), each with labelled axes and a
    /// train and a test series of one point per epoch inside the panel's plot area.
    static func checkCurves(_ path: String, epochs: Int) throws {
        final class Reader: NSObject, XMLParserDelegate {
            var panels: [(title: String, series: [String: Int], axes: Int, texts: [String])] = []
            var inText = false
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String]) {
                if name == "g", attributes["class"] == "panel" { panels.append((attributes["data-title"] ?? "", [:], 0, [])) }
                if name == "g", attributes["class"] == "axis", !panels.isEmpty { panels[panels.count - 1].axes += 1 }
                if name == "polyline", attributes["class"] == "series", let series = attributes["data-series"], !panels.isEmpty {
                    panels[panels.count - 1].series[series] = (attributes["points"] ?? "").split(separator: " ").count
                }
                inText = name == "text"
            }
            func parser(_ parser: XMLParser, foundCharacters string: String) {
                if inText, !panels.isEmpty { panels[panels.count - 1].texts.append(string) }
            }
            func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { inText = false }
        }
        let parser = try #require(XMLParser(contentsOf: URL(fileURLWithPath: path)))
        let reader = Reader()
        parser.delegate = reader
        #expect(parser.parse(), "\(path) is not well-formed XML: \(String(describing: parser.parserError))")
        #expect(reader.panels.map(\.title) == ["loss", "accuracy"])
        for panel in reader.panels {
            #expect(panel.axes == 1, "\(panel.title): axes")
            #expect(panel.series == ["train": epochs, "test": epochs], "\(panel.title): series and points")
            #expect(panel.texts.contains("epoch"), "\(panel.title): x label")
        }
        #expect(reader.panels.last?.texts.contains("top-1 accuracy (%)") == true)
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
            "--curves", folder.path("curves.svg"), "--log", folder.path("metrics.jsonl"),
        ])
        #expect(good.status == 0, "stderr: \(good.stderr)")
        try Self.checkCurves(folder.path("curves.svg"), epochs: 2)
        // One JSON object per epoch, with the schedule's lr and the test accuracy the epoch line printed.
        let log = try String(contentsOfFile: folder.path("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(log.count == 2)
        let epochs = try log.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(epochs.map { $0["epoch"] as? Int } == [1, 2])
        #expect(epochs.map { $0["lr"] as? Double } == [0.1, 0.05])
        let printed = good.stdout.split(separator: "\n").last { $0.hasPrefix("epoch 2/2") }.map(String.init) ?? ""
        let testAccuracy = try #require(epochs[1]["test_accuracy"] as? Double)
        #expect(printed.contains("test loss") && printed.contains("acc \(Double(Int((testAccuracy * 10000).rounded())) / 100)%"),
                "\(printed) vs \(testAccuracy)")
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
            (["--depth", "10", "--widen", "1", "--curves", folder.path("curves.png")], "--curves writes an .svg"),
            (["--depth", "10", "--widen", "1", "--log", output.replacingOccurrences(of: ".safetensors", with: ".jsonl"),
              "--curves", folder.path("missing/c.svg")], "folder"),
            (["--depth", "10", "--widen", "1", "--log", folder.path("m.json")], "--log writes a .jsonl"),
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
