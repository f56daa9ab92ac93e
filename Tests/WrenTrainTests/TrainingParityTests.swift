import Foundation
import Testing
@testable import WrenConvert
import WrenNetwork
@testable import WrenTrain

/// Whole WRNs against PyTorch (tools/make_training_fixtures.py): from one initial checkpoint, on
/// the same three batches, the forward pass, every gradient of the first step, and every
/// state-dict entry (parameters and batch-norm running statistics) after each of three optimizer
/// steps, compared with a float64 PyTorch run of the same steps.
///
/// The yardstick is PyTorch float32's own distance from float64, per tensor: Wren may be at most
/// `multiple` times as far, or 1e-4 of the tensor's norm where float32 is well conditioned. A plain
/// float32-vs-float32 tolerance would be wrong in two places (shared/notes): the stem's weight
/// gradient cancels a large common-mode term, and a conv bias followed by a train-mode batch norm
/// has an exactly zero true gradient, so both float32 engines compute rounding noise there, which
/// Adam turns into updates of about ±lr.
@Suite struct TrainingParityTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/training/parity")
    static let multiple = 4.0
    static let wellConditioned = 1e-4
    /// Runs whose later steps are chaotic in float32: AdamW's first update is lr·g/(|g| + ε) on
    /// conv-weight gradients that are zero up to float32 rounding, so it moves those weights by up to
    /// ±lr on rounding noise (Wren's noise there is up to 3.6× PyTorch's, from another summation
    /// order), and this network's next gradient is sensitive to them: measured in float64 PyTorch,
    /// Wren's step-1 weights (max 9e-5 off) move the step-2 gradient of block3's conv1 by 3e-3
    /// relative. The first step is held to the usual bound; steps 2 and 3 to 1e-3 of each norm
    /// (observed worst 2.8e-4, block3.layer.0.conv1.weight after step 3).
    static let chaotic: Set<String> = ["wrn10_2_bias-adamw"]

    nonisolated(unsafe) static let manifest: [String: Any] = {
        let data = try! Data(contentsOf: folder.appendingPathComponent("manifest.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }()

    static func tensors(_ path: String) throws -> [String: FloatTensor] {
        let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent(path)))
        return try SafetensorsCheckpoint.floatTensors(bytes, fileName: path)
    }

    static let cases: [(model: String, run: String)] = ["wrn10_2_bias", "wrn16_1"].flatMap { model in
        ["sgd_nesterov", "adam", "adamw"].map { (model, $0) }
    }

    static func configuration(_ run: [String: Any]) -> OptimizerConfiguration {
        let lr = run["lr"] as! Double, decay = run["weight_decay"] as! Double
        switch run["optimizer"] as! String {
        case "sgd": return .sgd(learningRate: lr, momentum: run["momentum"] as! Double, nesterov: run["nesterov"] as! Bool, weightDecay: decay)
        case "adam": return .adam(learningRate: lr, weightDecay: decay)
        default: return .adamW(learningRate: lr, weightDecay: decay)
        }
    }

    /// Distance of `values` from the float64 run's `key`, against PyTorch float32's.
    struct Comparison {
        var relativeFloorAfterFirstStep = TrainingParityTests.wellConditioned
        var worstRatio = 0.0, worstKey = "", compared = 0
        var failures: [String] = []

        mutating func check(_ key: String, _ values: [Float], truth: [String: FloatTensor], statistics: [String: Any]) {
            guard let expected = truth[key], let stats = statistics[key] as? [String: Double],
                  let norm = stats["norm64"], let torchDistance = stats["torch32_distance"] else {
                failures.append("\(key): not in the fixture"); return
            }
            guard expected.data.count == values.count else {
                failures.append("\(key): \(values.count) values, the fixture has \(expected.data.count)"); return
            }
            let distance = zip(values, expected.data).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            let firstStep = key.hasPrefix("step0/") || key.hasPrefix("step1/")
            let floor = firstStep ? TrainingParityTests.wellConditioned : relativeFloorAfterFirstStep
            let bound = max(floor * norm, TrainingParityTests.multiple * torchDistance)
            compared += 1
            let ratio = distance / max(bound, .leastNormalMagnitude)
            if ratio > worstRatio { (worstRatio, worstKey) = (ratio, key) }
            if !(distance <= bound) {
                failures.append("\(key): Wren is \(distance) from float64 (norm \(norm)), PyTorch float32 \(torchDistance), bound \(bound)")
            }
        }
    }

    @Test(arguments: cases)
    func stepsMatchPyTorchFloat64(model: String, run: String) throws {
        let entry = (Self.manifest["models"] as! [String: Any])[model] as! [String: Any]
        let runSettings = (Self.manifest["runs"] as! [String: Any])[run] as! [String: Any]
        let statistics = ((entry["runs"] as! [String: Any])[run] as! [String: Any])
        let steps = Self.manifest["steps"] as! Int, batch = Self.manifest["batch"] as! Int
        let initial = try Self.tensors("\(model)/init.safetensors")
        let batches = try Self.tensors("\(model)/batches.safetensors")
        let truth = try Self.tensors("\(model)/\(run).safetensors")

        let architecture = try WideResNet(stateDict: initial).architecture
        #expect(architecture == WRNArchitecture(depth: entry["depth"] as! Int, widenFactor: entry["widen"] as! Int,
                                                numClasses: entry["classes"] as! Int, convBias: entry["conv_bias"] as! Bool))
        let network = try TrainingNetwork(architecture: architecture, maxBatch: batch,
                                          labelSmoothing: runSettings["label_smoothing"] as! Double)
        try network.load(initial)
        let parameters = network.parameters
        var optimizer = try Optimizer(Self.configuration(runSettings),
                                      parameters: parameters.map { ParameterSpec(name: $0.entry.key, shape: $0.entry.shape) })
        let perBatch = batch * 3 * 32 * 32
        let images = batches["x"]!.data, labels = batches["y"]!.data.map { Int($0) }
        var comparison = Comparison()
        comparison.relativeFloorAfterFirstStep = Self.chaotic.contains("\(model)-\(run)") ? 1e-3 : Self.wellConditioned
        for step in 0..<steps {
            let result = try images[(step * perBatch)..<((step + 1) * perBatch)].withUnsafeBufferPointer { x in
                try labels[(step * batch)..<((step + 1) * batch)].withUnsafeBufferPointer { y in
                    try network.trainingStep(images: x, labels: y, batch: batch)
                }
            }
            let expectedLoss = Double(truth["step\(step + 1)/loss"]!.data[0])
            if step == 0 {
                #expect(abs(result.loss - expectedLoss) <= 1e-5 * abs(expectedLoss), "\(model) \(run): loss \(result.loss), float64 \(expectedLoss)")
            }
            comparison.check("step\(step + 1)/loss", [Float(result.loss)], truth: truth, statistics: statistics)
            if step == 0 {
                comparison.check("step0/loss", [Float(result.loss)], truth: truth, statistics: statistics)
                comparison.check("step0/logits", Array(network.logits.prefix(batch * architecture.numClasses)), truth: truth, statistics: statistics)
                for parameter in parameters {
                    comparison.check("step0/grad/\(parameter.entry.key)", parameter.gradient.array, truth: truth, statistics: statistics)
                }
            }
            optimizer.step(parameters: parameters.map(\.value.values), gradients: parameters.map { UnsafeBufferPointer($0.gradient.values) })
            for value in network.stateDict() {
                switch value.values {
                case .float(let data): comparison.check("step\(step + 1)/\(value.entry.key)", data, truth: truth, statistics: statistics)
                case .count(let count): #expect(count == step + 1, "\(value.entry.key) after step \(step + 1)")
                }
            }
        }
        let failures = comparison.failures.prefix(10).joined(separator: "\n")
        #expect(comparison.failures.isEmpty, "\(model) \(run): \(comparison.failures.count) of \(comparison.compared) tensors:\n\(failures)")
        #expect(comparison.compared == statistics.count, "\(comparison.compared) tensors compared, the fixture has \(statistics.count)")
        print("\(model) \(run): \(comparison.compared) tensors, worst distance/bound \(comparison.worstRatio) at \(comparison.worstKey)")
    }
}

