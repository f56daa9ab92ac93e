import Foundation
import Testing
import WrenConvert
import WrenCore
import WrenHost
import WrenNetwork
import WrenReference

/// int8 against float on real data: the WRN-16-2 trained on scikit-learn's digits by
/// tools/train_digits.py, calibrated on its 200 calibration images, judged on its 360-image test split.
@Suite struct QuantizationAccuracyTests {
    @Test func trainedDigitsModelKeepsItsAccuracy() throws {
        let digits = try DigitsFixture.loaded()
        let converted = try DigitsFixture.minMax()
        let (count, inputs, labels, classes) = (digits.testCount, digits.testInputs, digits.testLabels, DigitsFixture.classes)

        // The fastest kernels this machine has (all are bit-exact: WrenHostTests).
        let context = try WrenContext(model: converted.model, maxBatch: count, kernels: try KernelSelection.selectedKernels())
        let int8Logits = try context.run(inputs, batch: count)
        let floatLogits = try converted.reference.forward(inputs, batch: count)

        let int8Top = argmax(int8Logits, classes: classes)
        let floatTop = argmax(floatLogits, classes: classes)
        let agreement = Double(zip(int8Top, floatTop).filter { $0 == $1 }.count) / Double(count)
        let int8Accuracy = Double(zip(int8Top, labels).filter { $0 == $1 }.count) / Double(count)
        let floatAccuracy = Double(zip(floatTop, labels).filter { $0 == $1 }.count) / Double(count)
        print("digits WRN-16-2: int8 accuracy \(int8Accuracy), float accuracy \(floatAccuracy), agreement \(agreement)")

        #expect(agreement >= 0.99, "int8 vs float top-1 agreement \(agreement)")
        #expect(abs(int8Accuracy - floatAccuracy) <= 0.005, "int8 \(int8Accuracy) vs float \(floatAccuracy)")
        // The float reference itself reproduces the accuracy PyTorch measured (tools/train_digits.py).
        let torchLogits = try NumpyArray.read(path: DigitsFixture.folder.path("test_logits.npy")).floats()
        #expect(argmax(torchLogits, classes: classes) == floatTop)
    }

    /// Bias correction removes the int8 model's mean logit error on the calibration inputs (the
    /// classifier is float, so the shift is exact up to float rounding) and, on the held-out test
    /// split, brings the logits closer to float: 30.3 -> 34.6 dB measured with minmax.
    @Test func biasCorrectionRemovesTheMeanLogitError() throws {
        let digits = try DigitsFixture.loaded()
        let kernels = try KernelSelection.selectedKernels()
        func logits(_ bytes: [UInt8], _ inputs: [Float], _ count: Int) throws -> [Float] {
            try WrenContext(model: try WrenModel(bytes: bytes), maxBatch: count, kernels: kernels).run(inputs, batch: count)
        }
        func meanError(_ int8: [Float], _ float: [Float]) -> [Double] {
            var sums = [Double](repeating: 0, count: DigitsFixture.classes)
            for (index, (a, b)) in zip(int8, float).enumerated() { sums[index % DigitsFixture.classes] += Double(a - b) }
            return sums.map { $0 / Double(int8.count / DigitsFixture.classes) }
        }
        func sqnr(_ int8: [Float], _ float: [Float]) -> Double {
            let noise = zip(int8, float).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            return 10 * log10(float.reduce(0.0) { $0 + Double($1 * $1) } / noise)
        }
        var results: [Bool: (calibrationError: [Double], testSQNR: Double)] = [:]
        for correct in [false, true] {
            var options = ConversionOptions()
            options.biasCorrection = correct
            options.kernels = kernels
            let converted = try Converter.convert(
                checkpoint: digits.checkpoint, calibration: digits.calibration, count: digits.calibrationCount, options: options)
            let calibrationFloat = try converted.reference.forward(digits.calibration, batch: digits.calibrationCount)
            let testFloat = try converted.reference.forward(digits.testInputs, batch: digits.testCount)
            results[correct] = (meanError(try logits(converted.bytes, digits.calibration, digits.calibrationCount), calibrationFloat),
                                sqnr(try logits(converted.bytes, digits.testInputs, digits.testCount), testFloat))
        }
        let (before, after) = (try #require(results[false]), try #require(results[true]))
        #expect(before.calibrationError.map(\.magnitude).max()! > 0.01, "\(before.calibrationError)")
        #expect(after.calibrationError.map(\.magnitude).max()! < 1e-4, "\(after.calibrationError)")
        #expect(after.testSQNR > before.testSQNR + 2, "test logit SQNR \(before.testSQNR) -> \(after.testSQNR) dB")
    }

    /// Every fixture checkpoint (random weights, so agreement proves little) converts, loads and runs,
    /// and its int8 logits stay close to float: relative RMS error below 25% of the float logits' RMS.
    @Test(arguments: ["wrn10_1_c10", "wrn10_2_c3_bias", "wrn16_1_c100_train", "wrn10_2_c10_module", "wrn10_1_c10_views", "wrn22_1_c10"])
    func fixtureConvertsAndTracksFloat(_ name: String) throws {
        let models = ImportFixtures.folder("models")
        let checkpoint = try CheckpointLoader.load(path: models.path("\(name).pth"))
        let input = try NumpyArray.read(path: models.path("\(name).input.npy"))
        let values = try input.floats()
        let count = input.shape[0]
        let converted = try Converter.convert(checkpoint: checkpoint, calibration: values, count: count, options: ConversionOptions())
        let context = try WrenContext(model: try WrenModel(bytes: converted.bytes), maxBatch: count, kernels: try KernelSelection.selectedKernels())
        let int8Logits = try context.run(values, batch: count)
        let floatLogits = try converted.reference.forward(values, batch: count)
        var error = 0.0, energy = 0.0
        for (a, b) in zip(int8Logits, floatLogits) {
            error += Double((a - b) * (a - b))
            energy += Double(b * b)
        }
        let relative = (error / energy).squareRoot()
        #expect(relative < 0.25, "\(name): int8 relative RMS logit error \(relative)")
    }

    /// The stem absorbs the first block's bn1 (and writes its relu1) exactly when nothing else reads
    /// the stem's output: when the first block has a shortcut. With an identity shortcut the stem's
    /// output is the residual stream and stays an int8 tensor of its own.
    @Test(arguments: [("wrn10_1_c10", false), ("wrn10_2_c3_bias", true)])
    func stemFoldsTheFirstBatchNormWhereItCan(_ name: String, folds: Bool) throws {
        let models = ImportFixtures.folder("models")
        let checkpoint = try CheckpointLoader.load(path: models.path("\(name).pth"))
        let input = try NumpyArray.read(path: models.path("\(name).input.npy"))
        let converted = try Converter.convert(checkpoint: checkpoint, calibration: try input.floats(), count: input.shape[0],
                                              options: ConversionOptions())
        let description = try WrenModel(bytes: converted.bytes).description
        let stem = try #require(description.layers.first)
        let names = description.tensors.map(\.name)
        #expect(description.tensors[try #require(stem.output)].name == (folds ? "block1.layer.0.relu1" : "conv1"))
        #expect(stem.relu == folds)
        #expect(names.contains("conv1") == !folds)
        #expect(description.layers.filter { $0.op == .channelAffineReLU }.count == (folds ? 3 : 4), "\(name): 3 blocks + the final bn")
    }
}
