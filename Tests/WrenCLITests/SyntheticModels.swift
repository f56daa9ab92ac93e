import Foundation
import Testing
import WrenConvert
import WrenCore
import WrenTestSupport

/// `.wren` files `wren convert` never writes but the format allows (other input sizes, absurd
/// scales), built with the converter and the writer the CLI uses, from the WRN-10-2 bias
/// checkpoint (small, so each takes well under a second).
enum SyntheticModels {
    /// Normalized pseudo-random NCHW images, the same for a given seed.
    static func noise(count: Int, height: Int, width: Int, seed: UInt64 = 7) -> [Float] {
        var generator = SplitMix64(seed: seed)
        return (0..<(count * 3 * height * width)).map { _ in Float.random(in: -2...2, using: &generator) }
    }

    /// The bias checkpoint converted for `height` x `width` inputs, calibrated on 8 noise images.
    static func biasModel(height: Int, width: Int) throws -> Converter.Result {
        let checkpoint = try CheckpointLoader.load(path: CLIFixtures.biasCheckpoint)
        var options = ConversionOptions()
        options.calibrationSource = "noise"
        return try Converter.convert(
            checkpoint: checkpoint, calibration: noise(count: 8, height: height, width: width), count: 8,
            height: height, width: width, options: options)
    }

    /// Writes `model` into `folder` as `name` and returns its path.
    static func write(_ model: QuantizedModel, to folder: TemporaryFolder, as name: String) throws -> String {
        let path = folder.path(name)
        try Data(ModelWriter.write(model)).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The 32x32 bias model with the classifier's input scale set to 3.4e38: a valid file whose
    /// logits come out non-finite (the average pool's float sum overflows).
    static func overflowingModel(in folder: TemporaryFolder) throws -> String {
        var model = try biasModel(height: 32, width: 32).quantized
        let head = try #require(model.layers.last { $0.op == .averagePoolLinear })
        model.tensors[head.input].scale = 3.4e38
        return try write(model, to: folder, as: "overflowing.wren")
    }

    /// Writes `values` as a float32 .npy of `shape`.
    static func writeNpy(_ values: [Float], shape: [Int], to path: String) throws {
        try NumpyArray.write(floats: values, shape: shape, to: path)
    }
}
