import WrenReference

/// Min/max of every named float activation over the calibration inputs, gathered by running the
/// float reference model (the ranges int8 activations must cover).
public struct ActivationRanges: Sendable {
    public private(set) var ranges: [String: ClosedRange<Float>] = [:]
    public private(set) var sampleCount = 0

    public init() {}

    /// Runs `model` over `inputs` (NCHW float32, already normalized) in chunks of `chunk` images,
    /// calling `progress(done, total)` after each chunk.
    public static func calibrate(
        model: WideResNet, inputs: [Float], count: Int, height: Int, width: Int, chunk: Int = 32,
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> ActivationRanges {
        let perImage = 3 * height * width
        guard count >= 1, inputs.count == count * perImage else {
            throw ConvertError.invalidCalibration("expected \(count)x3x\(height)x\(width) values, got \(inputs.count)")
        }
        if let bad = inputs.firstIndex(where: { !$0.isFinite }) {
            throw ConvertError.invalidCalibration("value \(bad) (image \(bad / perImage)) is \(inputs[bad])")
        }
        var result = ActivationRanges()
        var start = 0
        while start < count {
            let n = min(chunk, count - start)
            let slice = Array(inputs[(start * perImage)..<((start + n) * perImage)])
            _ = try model.forward(slice, batch: n, height: height, width: width) { name, _, values in
                result.observe(name, values)
            }
            start += n
            result.sampleCount = start
            progress(start, count)
        }
        return result
    }

    mutating func observe(_ name: String, _ values: UnsafeBufferPointer<Float>) {
        guard var low = values.first else { return }
        var high = low
        for v in values {
            low = min(low, v)
            high = max(high, v)
        }
        if let old = ranges[name] {
            low = min(low, old.lowerBound)
            high = max(high, old.upperBound)
        }
        ranges[name] = low...high
    }

    public subscript(name: String) -> ClosedRange<Float>? { ranges[name] }
}
