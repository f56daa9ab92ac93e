import Foundation
import Testing
@testable import WrenConvert
import WrenNetwork

/// Values at the edge of float32 (issue 15, item 2): calibration images of 3.4e38, or weights of
/// 3.4e38, overflow the float forward pass to infinity and NaN. `wren convert` trapped in
/// ActivationRanges ("Range requires lowerBound <= upperBound", a NaN range) or wrote a file with
/// infinite logits; now it refuses, naming the first layer that overflows. Weights that are not
/// finite as float32 are refused at import, naming the tensor.
@Suite struct OverflowingValuesTests {
    static let folder = ImportFixtures.folder("safetensors")
    static let model = "wrn16_2_c10"

    static func calibration() throws -> (values: [Float], count: Int) {
        let array = try NumpyArray.read(path: folder.path("\(model).input.npy"))
        return (try array.floats(), array.shape[0])
    }

    /// The fixture checkpoint with every value of `key` set to `value`, written as a safetensors
    /// file and loaded back, as a user's file of such weights would be.
    static func checkpoint(setting key: String, to value: Float) throws -> Checkpoint {
        let original = try CheckpointLoader.load(path: folder.path("\(model).safetensors"))
        let tensors = original.tensors.keys.sorted().map { name in
            let tensor = original.tensors[name]!
            let values = name == key ? [Float](repeating: value, count: tensor.data.count) : tensor.data
            return SafetensorsTensor.float32(name, shape: tensor.shape, values)
        }
        let path = try ImportFixtures.temporaryFile(named: "huge.safetensors", bytes: try SafetensorsWriter.encode(tensors))
        return try CheckpointLoader.load(path: path)
    }

    /// Converts and expects `ConvertError.unrepresentable` naming `layer`.
    static func expectRefused(_ checkpoint: Checkpoint, calibration: [Float], count: Int, naming layer: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Converter.convert(checkpoint: checkpoint, calibration: calibration, count: count, options: ConversionOptions())
            Issue.record("the conversion succeeded", sourceLocation: sourceLocation)
        } catch ConvertError.unrepresentable(let named, let reason) {
            #expect(named == layer, "\(reason)", sourceLocation: sourceLocation)
            #expect(reason.contains("overflow"), "\(reason)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected ConvertError.unrepresentable(\(layer)), got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func calibrationImagesOf3_4e38AreRefusedAtTheFirstLayer() throws {
        let checkpoint = try CheckpointLoader.load(path: Self.folder.path("\(Self.model).safetensors"))
        let (values, count) = try Self.calibration()
        Self.expectRefused(checkpoint, calibration: [Float](repeating: 3.4e38, count: values.count), count: count, naming: "conv1")
    }

    @Test func batchNormWeightsOf3_4e38AreRefusedNamingTheirActivation() throws {
        // bn1 scales the stem's output by 3.4e38 / sqrt(var): infinity, then NaN where a zero
        // activation multiplies it.
        let (values, count) = try Self.calibration()
        let checkpoint = try Self.checkpoint(setting: "block1.layer.0.bn1.weight", to: 3.4e38)
        Self.expectRefused(checkpoint, calibration: values, count: count, naming: "block1.layer.0.relu1")
    }

    @Test func convolutionWeightsOf3_4e38AreRefusedNamingTheirActivation() throws {
        let (values, count) = try Self.calibration()
        let checkpoint = try Self.checkpoint(setting: "block2.layer.0.conv1.weight", to: 3.4e38)
        Self.expectRefused(checkpoint, calibration: values, count: count, naming: "block2.layer.0.relu2")
    }

    @Test func classifierWeightsOf3_4e38AreRefusedInsteadOfWritingInfiniteLogits() throws {
        let (values, count) = try Self.calibration()
        let checkpoint = try Self.checkpoint(setting: "fc.weight", to: 3.4e38)
        Self.expectRefused(checkpoint, calibration: values, count: count, naming: "fc")
    }

    @Test func theRangeOfValuesWithANaNOrInfinityIsNil() {
        for length in [1, 16, 17, 40] {
            for position in [0, length / 2, length - 1] {
                for bad in [Float.nan, .infinity, -.infinity] {
                    var values = [Float](repeating: 1, count: length)
                    values[position] = bad
                    #expect(values.withUnsafeBufferPointer { CalibrationStatistics.range($0) } == nil, "\(bad) at \(position) of \(length)")
                }
            }
        }
    }

    // MARK: At import

    @Test(arguments: [
        ("inf", SafetensorsTensor.float32("w", shape: [3], [1, .infinity, 2])),
        ("nan", SafetensorsTensor.float32("w", shape: [3], [1, 2, .nan])),
        // Finite as a float64, infinite as the float32 every importer converts to.
        ("float64 1e300", SafetensorsTensor.float64("w", shape: [3], [1e300, 1, 2])),
    ])
    func nonFiniteWeightsAreRefusedNamingTheTensor(name: String, tensor: SafetensorsTensor) throws {
        let bytes = try SafetensorsWriter.encode([.float32("a", shape: [1], [0]), tensor])
        let path = try ImportFixtures.temporaryFile(named: "nonfinite.safetensors", bytes: bytes)
        do {
            _ = try CheckpointLoader.load(path: path)
            Issue.record("\(name): the checkpoint was imported")
        } catch let error as ImportError {
            guard case .nonFiniteValue(file: "nonfinite.safetensors", key: "w", let index, let value) = error else {
                Issue.record("\(name): expected nonFiniteValue for 'w', got \(error)")
                return
            }
            #expect(index == (name == "nan" ? 2 : name == "inf" ? 1 : 0))
            #expect(!value.isFinite)
            #expect(error.description.contains("tensor 'w'"))
        }
    }
}
