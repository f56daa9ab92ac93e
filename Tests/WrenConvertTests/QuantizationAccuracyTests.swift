import Foundation
import Testing
import WrenConvert
import WrenCore
import WrenHost
import WrenReference

/// int8 against float on real data: the WRN-16-2 trained on scikit-learn's digits by
/// tools/train_digits.py, calibrated on its 200 calibration images, judged on its 360-image test split.
@Suite struct QuantizationAccuracyTests {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url
    }()

    static func fixture(_ path: String) -> String { root.appendingPathComponent("fixtures/" + path).path }

    static func argmax(_ values: [Float], classes: Int) -> [Int] {
        stride(from: 0, to: values.count, by: classes).map { start in
            (start..<(start + classes)).max { values[$0] < values[$1] }! - start
        }
    }

    @Test func trainedDigitsModelKeepsItsAccuracy() throws {
        let checkpoint = try CheckpointLoader.load(path: Self.fixture("digits/wrn16_2_digits.pth"))
        let calibration = try NumpyArray.read(path: Self.fixture("digits/calib_x.npy"))
        let converted = try Converter.convert(
            checkpoint: checkpoint, calibration: try calibration.floats(), count: calibration.shape[0], options: ConversionOptions())

        let testX = try NumpyArray.read(path: Self.fixture("digits/test_x.npy"))
        let testY = try NumpyArray.read(path: Self.fixture("digits/test_y.npy")).int64s()
        let count = testX.shape[0]
        let inputs = try testX.floats()
        let classes = 10

        let model = try WrenModel(bytes: converted.bytes)
        // The fastest kernels this machine has (all are bit-exact: WrenHostTests).
        let context = try WrenContext(model: model, maxBatch: count, kernels: try Runtime.selectedKernels())
        let int8Logits = try context.run(inputs, batch: count)
        let floatLogits = try converted.reference.forward(inputs, batch: count)

        let int8Top = Self.argmax(int8Logits, classes: classes)
        let floatTop = Self.argmax(floatLogits, classes: classes)
        let agreement = Double(zip(int8Top, floatTop).filter { $0 == $1 }.count) / Double(count)
        let int8Accuracy = Double(zip(int8Top, testY).filter { Int64($0) == $1 }.count) / Double(count)
        let floatAccuracy = Double(zip(floatTop, testY).filter { Int64($0) == $1 }.count) / Double(count)
        print("digits WRN-16-2: int8 accuracy \(int8Accuracy), float accuracy \(floatAccuracy), agreement \(agreement)")

        #expect(agreement >= 0.99, "int8 vs float top-1 agreement \(agreement)")
        #expect(abs(int8Accuracy - floatAccuracy) <= 0.005, "int8 \(int8Accuracy) vs float \(floatAccuracy)")
        // The float reference itself reproduces the accuracy PyTorch measured (tools/train_digits.py).
        let torchLogits = try NumpyArray.read(path: Self.fixture("digits/test_logits.npy")).floats()
        #expect(Self.argmax(torchLogits, classes: classes) == floatTop)
    }

    /// Every fixture checkpoint (random weights, so agreement proves little) converts, loads and runs,
    /// and its int8 logits stay close to float: relative RMS error below 25% of the float logits' RMS.
    @Test(arguments: ["wrn10_1_c10", "wrn10_2_c3_bias", "wrn16_1_c100_train", "wrn10_2_c10_module", "wrn10_1_c10_views", "wrn22_1_c10"])
    func fixtureConvertsAndTracksFloat(_ name: String) throws {
        let checkpoint = try CheckpointLoader.load(path: Self.fixture("models/\(name).pth"))
        let input = try NumpyArray.read(path: Self.fixture("models/\(name).input.npy"))
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
}
