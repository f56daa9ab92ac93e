import Testing
import WrenConvert
import WrenCore

/// A real `.wren` file for the format tests: fixtures/models/wrn10_1_c10.pth converted with its own
/// `.input.npy` as calibration, the way `wren convert` does it. Converted once per test run.
/// (Paths come from `ImportFixtures`, the shared fixture locator in ImportTestSupport.swift.)
enum WrenFileFixture {
    struct Converted: Sendable {
        var bytes: [UInt8]
        var quantized: QuantizedModel
        /// The calibration images, normalized NCHW float32, also used as run inputs.
        var inputs: [Float]
        var imageCount: Int
    }

    static let name = "wrn10_1_c10"

    private static let cached: Result<Converted, any Error> = Result {
        let checkpoint = try CheckpointLoader.load(path: ImportFixtures.models.appendingPathComponent("\(name).pth").path)
        let calibration = try NumpyArray.read(path: ImportFixtures.models.appendingPathComponent("\(name).input.npy").path)
        let inputs = try calibration.floats()
        var options = ConversionOptions()
        options.calibrationSource = "\(name).input.npy"
        let result = try Converter.convert(checkpoint: checkpoint, calibration: inputs, count: calibration.shape[0], options: options)
        return Converted(bytes: result.bytes, quantized: result.quantized, inputs: inputs, imageCount: calibration.shape[0])
    }

    static func converted() throws -> Converted { try cached.get() }

    /// The tensors `convertedWide()` keeps as int16: an affine output two convolutions read and a
    /// residual block output.
    static let wideTensors = ["block2.layer.0.relu1", "block3.layer.0"]

    private static let cachedWide: Result<Converted, any Error> = Result {
        let plain = try converted()
        let checkpoint = try CheckpointLoader.load(path: ImportFixtures.models.appendingPathComponent("\(name).pth").path)
        var options = ConversionOptions()
        options.calibrationSource = "\(name).input.npy"
        options.keepWider = wideTensors
        let result = try Converter.convert(checkpoint: checkpoint, calibration: plain.inputs, count: plain.imageCount, options: options)
        return Converted(bytes: result.bytes, quantized: result.quantized, inputs: plain.inputs, imageCount: plain.imageCount)
    }

    /// The same model with `wideTensors` kept as int16: a .wren 2.0 file.
    static func convertedWide() throws -> Converted { try cachedWide.get() }
}
