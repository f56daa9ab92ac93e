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
        let context = try WrenContext(model: converted.model, maxBatch: count, kernels: try Runtime.selectedKernels())
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
        let context = try WrenContext(model: try WrenModel(bytes: converted.bytes), maxBatch: count, kernels: try Runtime.selectedKernels())
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
