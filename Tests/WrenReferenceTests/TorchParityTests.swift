import Foundation
import Testing
import WrenConvert
import WrenNetwork
import WrenReference

/// The reference against PyTorch itself: every checkpoint in fixtures/models/ (written by
/// tools/make_fixtures.py from real eval-mode PyTorch runs) must reproduce its `<name>.logits.npy`
/// on its `<name>.input.npy` within max|Δ| ≤ 1e-4 × max|logit|.
@Suite struct TorchParityTests {
    static let modelsDirectory: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent("fixtures/models")
    }()

    /// Fixture names: every `<name>.logits.npy` in fixtures/models/.
    static let fixtureNames: [String] = {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: modelsDirectory.path)) ?? []
        return files.filter { $0.hasSuffix(".logits.npy") }.map { String($0.dropLast(".logits.npy".count)) }.sorted()
    }()

    @Test func fixturesArePresent() {
        #expect(Self.fixtureNames.count >= 1, "no *.logits.npy in \(Self.modelsDirectory.path)")
    }

    @Test(arguments: fixtureNames)
    func logitsMatchPyTorch(_ name: String) throws {
        let directory = Self.modelsDirectory
        let checkpoint = try CheckpointLoader.load(path: directory.appendingPathComponent(name + ".pth").path)
        let model = try WideResNet(stateDict: checkpoint.tensors)

        let inputArray = try NumpyArray.read(path: directory.appendingPathComponent(name + ".input.npy").path)
        let expectedArray = try NumpyArray.read(path: directory.appendingPathComponent(name + ".logits.npy").path)
        try #require(inputArray.shape.count == 4 && inputArray.shape[1] == 3, "\(name).input.npy has shape \(inputArray.shape)")
        let (batch, height, width) = (inputArray.shape[0], inputArray.shape[2], inputArray.shape[3])
        #expect(expectedArray.shape == [batch, model.architecture.numClasses], "\(name): \(model.architecture)")

        let logits = try model.forward(try inputArray.floats(), batch: batch, height: height, width: width)
        let expected = try expectedArray.floats()
        try #require(logits.count == expected.count)
        var difference: Float = 0, scale: Float = 0
        for (value, reference) in zip(logits, expected) {
            difference = max(difference, abs(value - reference))
            scale = max(scale, abs(reference))
        }
        #expect(difference <= 1e-4 * scale, "\(name) (\(model.architecture)): max|Δ| \(difference), max|logit| \(scale)")
    }

    /// The architecture inferred from names and shapes is the one the fixture script built.
    @Test func inferredArchitecturesMatchTheManifest() throws {
        let manifestURL = Self.modelsDirectory.appendingPathComponent("manifest.json")
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [[String: Any]])
        #expect(!entries.isEmpty)
        for entry in entries {
            let name = try #require(entry["name"] as? String)
            let file = try #require(entry["file"] as? String)
            let expected = WRNArchitecture(depth: try #require(entry["depth"] as? Int),
                                           widenFactor: try #require(entry["widen_factor"] as? Int),
                                           numClasses: try #require(entry["num_classes"] as? Int),
                                           convBias: try #require(entry["conv_bias"] as? Bool))
            let checkpoint = try CheckpointLoader.load(path: Self.modelsDirectory.appendingPathComponent(file).path)
            #expect(try WideResNet(stateDict: checkpoint.tensors).architecture == expected, "\(name)")
        }
    }
}
