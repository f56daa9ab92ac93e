import WrenCore
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
    /// spread over `parallelism`'s threads, calling `progress(done, total)` on the calling thread as
    /// chunks finish; `total` counts both passes when the method needs a histogram. The result does
    /// not depend on the thread count: ranges and histogram counts merge exactly, and the logits are
    /// summed in input order.
    public static func calibrate(
        model: WideResNet, inputs: [Float], count: Int, height: Int, width: Int, chunk: Int = 16,
        method: CalibrationMethod = .minMax, parallelism: Parallelism = .serial,
        progress: (Int, Int) -> Void = { _, _ in }
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
        let chunks = (count + chunk - 1) / chunk
        let workers = (0..<max(parallelism.workers, 1)).map { _ in CalibrationStatistics() }
        var chunkLogits = [[Float]](repeating: [], count: chunks)
        var result = ActivationRanges()
        result.method = method

        /// Runs every chunk, `workers.count` at a time (so progress can be reported in between).
        func sweep(pass: Int, _ observe: @escaping (CalibrationStatistics, String, UnsafeBufferPointer<Float>) -> Void) throws {
            var first = 0
            while first < chunks {
                let round = min(workers.count, chunks - first)
                var outcomes = [Result<[Float], NetworkError>?](repeating: nil, count: round)
                outcomes.withUnsafeMutableBufferPointer { outcomes in
                    parallelism.forEach(round) { index, worker in
                        let start = (first + index) * chunk, n = min(chunk, count - start)
                        let statistics = workers[worker]
                        outcomes[index] = Result(catching: { () throws(NetworkError) in
                            try model.forward(Array(inputs[(start * perImage)..<((start + n) * perImage)]), batch: n,
                                              height: height, width: width) { name, _, values in observe(statistics, name, values) }
                        })
                    }
                }
                for (index, outcome) in outcomes.enumerated() {
                    let logits = try outcome!.get()
                    if pass == 0 { chunkLogits[first + index] = logits }
                }
                first += round
                progress(pass * count + min(first * chunk, count), passes * count)
            }
        }

        try sweep(pass: 0) { statistics, name, values in statistics.observeRange(name, values) }
        // Finite weights and inputs can still overflow float32 deep in a network (weights or inputs
        // near 3.4e38); no int8 scale can represent that, and a histogram over it would be
        // meaningless. The first such activation in network order is the layer to blame.
        let order = workers.map(\.order).max { $0.count < $1.count } ?? []
        let nonFinite = workers.reduce(into: Set<String>()) { $0.formUnion($1.nonFinite) }
        if let name = order.first(where: nonFinite.contains) {
            throw ConvertError.unrepresentable(
                layer: name, reason: "its float32 activation overflows to infinity or NaN on the calibration inputs "
                    + "(weights or inputs too large for float32)")
        }
        if chunkLogits.joined().contains(where: { !$0.isFinite }) {
            throw ConvertError.unrepresentable(
                layer: "fc", reason: "its float32 logits overflow to infinity or NaN on the calibration inputs "
                    + "(weights or inputs too large for float32)")
        }
        for statistics in workers {
            for (name, range) in statistics.observed { result.observed[name] = union(result.observed[name], range) }
        }
        for logits in chunkLogits { addPerClass(logits, classes: model.architecture.numClasses, into: &result.meanLogits) }
        result.sampleCount = count
        result.meanLogits = result.meanLogits.map { $0 / Double(count) }
        if method.needsHistogram {
            for statistics in workers {
                for (name, range) in result.observed {
                    statistics.histograms[name] = ActivationHistogram(low: range.lowerBound, high: range.upperBound)
                }
            }
            try sweep(pass: 1) { statistics, name, values in statistics.histograms[name]?.add(values) }
            result.histograms = workers[0].histograms
            for statistics in workers.dropFirst() {
                for (name, histogram) in statistics.histograms { result.histograms[name]!.merge(histogram) }
            }
        }
        // The searches are independent per tensor (entropy's is the costly one).
        let (observed, histograms) = (result.observed, result.histograms)
        let names = observed.keys.sorted()
        var chosen = [ClosedRange<Float>?](repeating: nil, count: names.count)
        chosen.withUnsafeMutableBufferPointer { chosen in
            parallelism.forEach(names.count) { index, _ in
                let name = names[index]
                switch method {
                case .minMax: chosen[index] = observed[name]!
                case .percentile(let value): chosen[index] = histograms[name]!.percentileRange(tail: (100 - value) / 100)
                case .entropy: chosen[index] = histograms[name]!.entropyRange()
                case .mse: chosen[index] = histograms[name]!.mseRange()
                }
            }
        }
        for (name, range) in zip(names, chosen) { result.ranges[name] = range! }
        return result
    }

    /// The range to quantize `name` with.
    public subscript(name: String) -> ClosedRange<Float>? { ranges[name] }
}

/// One thread's share of the calibration statistics, merged after each pass.
final class CalibrationStatistics {
    var observed: [String: ClosedRange<Float>] = [:]
    var histograms: [String: ActivationHistogram] = [:]
    /// The activations in the order the forward pass produces them (for naming the first bad one).
    var order: [String] = []
    /// Activations that reached an infinity or NaN on some input.
    var nonFinite: Set<String> = []

    func observeRange(_ name: String, _ values: UnsafeBufferPointer<Float>) {
        if observed[name] == nil, !nonFinite.contains(name) { order.append(name) }
        guard !values.isEmpty else { return }
        guard let range = Self.range(values) else {
            nonFinite.insert(name)
            return
        }
        observed[name] = union(observed[name], range)
    }

    /// min...max of `values`, 16 lanes at a time (a scalar loop was a tenth of a conversion); nil
    /// when there are none, or when one is infinite or NaN (which no range can hold).
    static func range(_ values: UnsafeBufferPointer<Float>) -> ClosedRange<Float>? {
        guard let first = values.first, let base = values.baseAddress else { return nil }
        let raw = UnsafeRawPointer(base)
        var low = SIMD16<Float>(repeating: first), high = low
        // NaN compares false with everything, so min/max alone would skip it.
        var sawNaN = SIMDMask<SIMD16<Int32>>(repeating: false)
        let vectors = values.count / 16
        for index in 0..<vectors {
            let v = raw.loadUnaligned(fromByteOffset: index * 64, as: SIMD16<Float>.self)
            // Masked replacement compiles to compare + blend; pointwiseMin/Max went lane by lane.
            low.replace(with: v, where: v .< low)
            high.replace(with: v, where: v .> high)
            sawNaN .|= v .!= v
        }
        var lowest = low.min(), highest = high.max()
        var tailNaN = first.isNaN
        for index in (vectors * 16)..<values.count {
            lowest = min(lowest, values[index])
            highest = max(highest, values[index])
            tailNaN = tailNaN || values[index].isNaN
        }
        guard !any(sawNaN), !tailNaN, lowest.isFinite, highest.isFinite else { return nil }
        return lowest...highest
    }
}

/// The smallest range holding `range` and `other` (when there is one).
func union(_ other: ClosedRange<Float>?, _ range: ClosedRange<Float>) -> ClosedRange<Float> {
    guard let other else { return range }
    return min(other.lowerBound, range.lowerBound)...max(other.upperBound, range.upperBound)
}
