import Foundation
import Testing

/// `wren convert --calibration-method/--weights` and `wren validate` as a user runs them: the built
/// executable in a subprocess, on fixtures from tools/ scripts. Subsets of the test images keep the
/// scalar int8 runtime's share of the time small.
@Suite("wren validate")
struct ValidateCLITests {
    @Test func validateReportsAccuracyAgreementAndLayers() throws {
        let folder = try TemporaryFolder()
        let model = try CLIFixtures.convertDigits(into: folder, method: "entropy")
        let json = folder.path("report.json")
        let chart = folder.path("report.svg")
        let result = try WrenExecutable.run([
            "validate", model, "--reference", CLIFixtures.digitsCheckpoint, "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY,
            "--limit", "24", "--json", json, "--chart", chart,
        ])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        for text in ["accuracy", "top-1 agreement", "SQNR dB", "worst layers", "block3.layer.1.relu2", "entropy over 200 inputs"] {
            #expect(result.stdout.contains(text), "'\(text)' missing from:\n\(result.stdout)")
        }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let report = try #require(object["report"] as? [String: Any])
        #expect(report["imageCount"] as? Int == 24)
        let agreement = try #require(object["agreement"] as? Double)
        #expect(agreement >= 23.0 / 24, "entropy-calibrated digits agree on \(agreement)")
        let layers = try #require(report["layers"] as? [[String: Any]])
        #expect(layers.count == 23, "WRN-16-2 has 23 int8 activations (the stem writes block1.layer.0.relu1), got \(layers.count)")
        #expect(layers.allSatisfy { ($0["sqnrDB"] as? Double).map { $0 > 15 } ?? false })
        let svg = try String(contentsOfFile: chart, encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.contains("<svg") && svg.contains("int8 confusion"))
    }

    /// The seed's layout: one subfolder per class. Labels come from the folder names, matched to
    /// the model's labels (not folder order: "7" before "10"-style orderings must not matter).
    @Test func validateAClassFolderOfJPEGs() throws {
        let folder = try TemporaryFolder()
        let model = try CLIFixtures.convertDigits(into: folder)
        let data = folder.path("data")
        let images = try FileManager.default.contentsOfDirectory(atPath: CLIFixtures.digitImages).filter { $0.hasSuffix(".jpg") }
        try #require(images.count == 12)
        for image in images {
            let label = try #require(image.split(separator: "_label").last?.split(separator: ".").first.map(String.init))
            let classFolder = data + "/" + label
            try FileManager.default.createDirectory(atPath: classFolder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: CLIFixtures.digitImages + "/" + image, toPath: classFolder + "/" + image)
        }
        let json = folder.path("folder.json")
        let result = try WrenExecutable.run(["validate", model, "--reference", CLIFixtures.digitsCheckpoint, "--data", data, "--json", json])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let report = try #require(object["report"] as? [String: Any])
        #expect(report["imageCount"] as? Int == 12)
        // The trained model reads these JPEGs (CLITests checks ≥ 10 of 12 by file name); folder labels agree.
        let floatCorrect = try #require(report["floatCorrect"] as? Int)
        #expect(floatCorrect >= 10, "float read \(floatCorrect)/12 with labels from the folders")

        // A folder name the model's labels do not know is refused by name.
        try FileManager.default.createDirectory(atPath: data + "/owl", withIntermediateDirectories: true)
        let unknown = try WrenExecutable.run(["validate", model, "--reference", CLIFixtures.digitsCheckpoint, "--data", data])
        expectCleanFailure(unknown, "validate with an unknown class folder")
        #expect(unknown.stderr.contains("'owl'"), "stderr: \(unknown.stderr)")
    }

    @Test func paddleCheckpointConvertsAndValidates() throws {
        let folder = try TemporaryFolder()
        let model = folder.path("birds.wren")
        let convert = try WrenExecutable.run([
            "convert", CLIFixtures.paddleCheckpoint, "-o", model, "--calibration", CLIFixtures.paddleInput,
            "--calibration-method", "percentile:99.9", "--weights", "per-tensor", "--class-names", "crow,finch,robin,sparrow",
        ])
        try #require(convert.status == 0, "convert failed: \(convert.stderr)")
        #expect(convert.stdout.contains("WRN-28-1, 4 classes"), "stdout: \(convert.stdout)")
        #expect(convert.stdout.contains("calibrated (percentile:99.9, weights per-tensor)"), "stdout: \(convert.stdout)")
        let result = try WrenExecutable.run(["validate", model, "--reference", CLIFixtures.paddleCheckpoint, "--data", CLIFixtures.paddleInput])
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("int8 symmetric per tensor"), "stdout: \(result.stdout)")
        #expect(!result.stdout.contains("accuracy "), "no labels, so no accuracy line:\n\(result.stdout)")
    }

    @Test func mistakesGetErrorsThatSayWhatToDo() throws {
        let folder = try TemporaryFolder()
        let model = folder.path("bias.wren")
        let convert = try WrenExecutable.run(["convert", CLIFixtures.biasCheckpoint, "-o", model, "--calibration", CLIFixtures.biasInput])
        try #require(convert.status == 0, "convert failed: \(convert.stderr)")

        let badMethod = try WrenExecutable.run(["convert", CLIFixtures.biasCheckpoint, "-o", folder.path("x.wren"), "--calibration-method", "kld"])
        expectCleanFailure(badMethod, "convert --calibration-method kld")
        #expect(badMethod.stderr.contains("minmax, percentile[:P]"), "stderr: \(badMethod.stderr)")

        let badWeights = try WrenExecutable.run(["convert", CLIFixtures.biasCheckpoint, "-o", folder.path("x.wren"), "--weights", "per-row"])
        expectCleanFailure(badWeights, "convert --weights per-row")

        let labels = folder.path("labels.npy")
        try Data(Self.int64Npy([0, 1, 2])).write(to: URL(fileURLWithPath: labels))
        let mismatch = try WrenExecutable.run(["validate", model, "--reference", CLIFixtures.biasCheckpoint, "--data", CLIFixtures.biasInput, "--labels", labels])
        expectCleanFailure(mismatch, "validate with 3 labels for 4 inputs")
        #expect(mismatch.stderr.contains("3 labels for 4 inputs"), "stderr: \(mismatch.stderr)")

        let notWren = try WrenExecutable.run(["validate", CLIFixtures.biasCheckpoint, "--reference", CLIFixtures.biasCheckpoint, "--data", CLIFixtures.biasInput])
        expectCleanFailure(notWren, "validate CHECKPOINT")
        #expect(notWren.stderr.contains("wren convert"), "stderr: \(notWren.stderr)")

        let otherReference = try WrenExecutable.run(["validate", model, "--reference", CLIFixtures.paddleCheckpoint, "--data", CLIFixtures.biasInput])
        expectCleanFailure(otherReference, "validate against a 4-class reference")
        #expect(otherReference.stderr.contains("4 classes"), "stderr: \(otherReference.stderr)")

        let wrongChart = try WrenExecutable.run(["validate", model, "--reference", CLIFixtures.biasCheckpoint, "--data", CLIFixtures.biasInput, "--chart", folder.path("c.png")])
        expectCleanFailure(wrongChart, "validate --chart c.png")
        #expect(wrongChart.stderr.contains(".svg"), "stderr: \(wrongChart.stderr)")
    }

    @Test func helpExplainsTheNumbers() throws {
        let result = try WrenExecutable.run(["validate", "--help"])
        #expect(result.status == 0)
        for text in ["SQNR", "--reference", "--data", "subfolder", "Examples:"] {
            #expect(result.stdout.contains(text), "'\(text)' missing from help:\n\(result.stdout)")
        }
        let convert = try WrenExecutable.run(["convert", "--help"])
        #expect(convert.stdout.contains("--calibration-method") && convert.stdout.contains("entropy"))
    }

    /// A little-endian int64 .npy of `values` (shape [N]).
    static func int64Npy(_ values: [Int64]) -> [UInt8] {
        var header = "{'descr': '<i8', 'fortran_order': False, 'shape': (\(values.count),), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        let length = header.utf8.count
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8)
        for value in values { bytes += (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        return bytes
    }
}
