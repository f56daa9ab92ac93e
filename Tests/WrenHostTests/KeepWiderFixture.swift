import Foundation
import WrenConvert
import WrenCore

/// fixtures/models/wrn10_2_c3_bias.pth converted on its own inputs, optionally with int16 tensors of
/// every kind kept wider: the model input (the stem reads int16), an affine output two convolutions
/// read, a block output (residual and affine input) and the pooled features.
struct KeepWiderFixture {
    static let keptWider = ["input", "block2.layer.0.relu1", "block2.layer.0", "relu"]

    let model: WrenModel
    let input: [Float]
    let batch: Int

    init(keepWider: Bool) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let models = root.appendingPathComponent("fixtures/models")
        let checkpoint = try CheckpointLoader.load(path: models.appendingPathComponent("wrn10_2_c3_bias.pth").path)
        let inputArray = try NumpyArray.read(path: models.appendingPathComponent("wrn10_2_c3_bias.input.npy").path)
        input = try inputArray.floats()
        batch = inputArray.shape[0]
        var options = ConversionOptions()
        if keepWider { options.keepWider = Self.keptWider }
        let converted = try Converter.convert(checkpoint: checkpoint, calibration: input, count: batch, options: options)
        model = try WrenModel(bytes: converted.bytes)
    }
}
