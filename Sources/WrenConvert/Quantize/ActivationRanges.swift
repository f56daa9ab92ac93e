import WrenNetwork
import WrenReference

/// The range every named float activation must cover in int8, gathered by running the float
/// reference model over the calibration inputs and chosen by a `CalibrationMethod`.
///
/// Min/max needs one pass. Percentile and entropy need the distribution: a first pass finds each
/// activation's min/max, a second fills a fixed-width histogram over it (as ncnn's `ncnn2table`
/// does), so the histograms are exact for the data without holding every value.
public struct ActivationRanges: Sendable {
    /// The ranges to quantize with (clipped by the method; min/max for `.minMax`).
    public private(set) var ranges: [String: ClosedRange<Float>] = [:]
    /// The full min/max of every activation over the calibration inputs.
    public private(set) var observed: [String: ClosedRange<Float>] = [:]
    public private(set) var histograms: [String: ActivationHistogram] = [:]
    public private(set) var sampleCount = 0
    public private(set) var method: CalibrationMethod = .minMax
    /// The float model's mean logit per class over the calibration inputs (for bias correction).
    public private(set) var meanLogits: [Double] = []

    public init() {}

    /// Runs `model` over `inputs` (NCHW float32, already normalized) in chunks of `chunk` images,
    /// calling `progress(done, total)` after each chunk; `total` counts both passes when the method
    /// needs a histogram.
    public static func calibrate(
        model: WideResNet, inputs: [Float], count: Int, height: Int, width: Int, chunk: Int = 32,
        method: CalibrationMethod = .minMax, progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> ActivationRanges {
        let perImage = 3 * height * width
        guard count >= 1, inputs.count == count * perImage else {
            throw ConvertError.invalidCalibration("expected \(count)x3x\(height)x\(width) values, got \(inputs.count)")
        }
        if let bad = inputs.firstIndex(where: { !$0.isFinite }) {
            throw ConvertError.invalidCalibration("value \(bad) (image \(bad / perImage)) is \(inputs[bad])")
        }
        if case .percentile(let value) = method, !(value > 50 && value <= 100) {
            throw ConvertError.invalidOption("percentile \(value) must be in (50, 100]")
        }
        let passes = method.needsHistogram ? 2 : 1
        var result = ActivationRanges()
        result.method = method

        func sweep(pass: Int, _ observe: @escaping (String, UnsafeBufferPointer<Float>) -> Void) throws {
            var start = 0
            while start < count {
                let n = min(chunk, count - start)
                let slice = Array(inputs[(start * perImage)..<((start + n) * perImage)])
                let logits = try model.forward(slice, batch: n, height: height, width: width) { name, _, values in
                    observe(name, values)
                }
                if pass == 0 { addPerClass(logits, classes: model.architecture.numClasses, into: &result.meanLogits) }
                start += n
                progress(pass * count + start, passes * count)
            }
        }

        try sweep(pass: 0) { name, values in result.observeRange(name, values) }
        result.sampleCount = count
        result.meanLogits = result.meanLogits.map { $0 / Double(count) }
        // Finite weights and inputs can still overflow float32 deep in a network; no int8 scale can
        // represent that, and a histogram over it would be meaningless.
        if let (name, range) = result.observed.first(where: { !$0.value.lowerBound.isFinite || !$0.value.upperBound.isFinite }) {
            throw ConvertError.invalidCalibration("activation '\(name)' reaches \(range) in float32 on the calibration inputs")
        }
        if method.needsHistogram {
            for (name, range) in result.observed {
                result.histograms[name] = ActivationHistogram(low: range.lowerBound, high: range.upperBound)
            }
            try sweep(pass: 1) { name, values in result.histograms[name]?.add(values) }
        }
        for (name, range) in result.observed {
            switch method {
            case .minMax:
                result.ranges[name] = range
            case .percentile(let value):
                result.ranges[name] = result.histograms[name]!.percentileRange(tail: (100 - value) / 100)
            case .entropy:
                result.ranges[name] = result.histograms[name]!.entropyRange()
            }
        }
        return result
    }

    mutating func observeRange(_ name: String, _ values: UnsafeBufferPointer<Float>) {
        guard var low = values.first else { return }
        var high = low
        for v in values {
            low = min(low, v)
            high = max(high, v)
        }
        if let old = observed[name] {
            low = min(low, old.lowerBound)
            high = max(high, old.upperBound)
        }
        observed[name] = low...high
    }

    /// The range to quantize `name` with.
    public subscript(name: String) -> ClosedRange<Float>? { ranges[name] }
}
