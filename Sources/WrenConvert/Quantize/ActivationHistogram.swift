/// The distribution of one activation over the calibration inputs, for percentile and entropy
/// calibration: `binCount` bins of equal width over the magnitudes of the negative values and as
/// many over the positive values, both `binWidth = max(|low|, high) / binCount` wide (so the two
/// sides add up into one |x| histogram), plus a count of exact zeros. The range comes from a first
/// min/max pass, so no value falls outside; the top bin is closed.
public struct ActivationHistogram: Sendable, Equatable {
    /// 4096 bins: the 255-level search (ReLU outputs) then keeps the 16 bins per level that ncnn's
    /// 2048 bins give its 128 levels, so it can clip down to 1/16 of the observed maximum.
    public static let defaultBinCount = 4096

    public let low: Float
    public let high: Float
    public let binWidth: Double
    public private(set) var negative: [UInt64]
    public private(set) var positive: [UInt64]
    public private(set) var zeros: UInt64 = 0

    public init(low: Float, high: Float, binCount: Int = defaultBinCount) {
        self.low = min(low, 0)
        self.high = max(high, 0)
        binWidth = max(Double(-self.low), Double(self.high)) / Double(binCount)
        negative = [UInt64](repeating: 0, count: binCount)
        positive = [UInt64](repeating: 0, count: binCount)
    }

    public var binCount: Int { positive.count }
    public var total: UInt64 { zeros + negative.reduce(0, +) + positive.reduce(0, +) }

    public mutating func add(_ values: UnsafeBufferPointer<Float>) {
        guard binWidth > 0 else {
            zeros += UInt64(values.count)
            return
        }
        let inverse = 1 / binWidth
        let last = binCount - 1
        for value in values {
            if value == 0 {
                zeros += 1
            } else if value > 0 {
                positive[min(Int(Double(value) * inverse), last)] += 1
            } else {
                negative[min(Int(Double(-value) * inverse), last)] += 1
            }
        }
    }

    /// Adds the counts of `other`, a histogram over the same range (another thread's share).
    public mutating func merge(_ other: ActivationHistogram) {
        precondition(other.low == low && other.high == high && other.binCount == binCount, "histograms over different ranges")
        zeros += other.zeros
        for index in 0..<binCount {
            negative[index] += other.negative[index]
            positive[index] += other.positive[index]
        }
    }

    /// The histogram of |x| without exact zeros (which int8 represents exactly whatever the scale).
    public var magnitudes: [UInt64] { zip(negative, positive).map { $0 + $1 } }

    /// [lower, upper] keeping all but `tail` of the values on each side: `tail` = (100 − P) / 100.
    /// Each bound is the outer edge of the bin where the tail ends, so a value is clipped only when
    /// its whole bin lies beyond the bound.
    public func percentileRange(tail: Double) -> ClosedRange<Float> {
        let allowed = tail * Double(total)
        func edge(_ bins: [UInt64]) -> Double {
            var beyond = 0.0
            for index in bins.indices.reversed() {
                beyond += Double(bins[index])
                if beyond > allowed { return Double(index + 1) * binWidth }
            }
            return 0
        }
        let upper = min(Double(high), edge(positive))
        let lower = max(Double(low), -edge(negative))
        return Float(lower)...Float(upper)
    }

    /// The entropy-calibrated range. A tensor with no negative values (after ReLU) is quantized
    /// asymmetrically over [0, T] with 255 steps, so T is searched for 255 levels on the positive
    /// histogram; a signed tensor gets TensorRT's symmetric search over |x| with 128 levels, and the
    /// observed range is clipped to [−T, T].
    public func entropyRange() -> ClosedRange<Float> {
        guard binWidth > 0 else { return low...high }
        if low >= 0 {
            let bins = EntropyThreshold.search(histogram: positive, levels: 255)
            return 0...min(high, Float(Double(bins) * binWidth))
        }
        let threshold = Float(Double(EntropyThreshold.search(histogram: magnitudes, levels: 128)) * binWidth)
        return max(low, -threshold)...min(high, threshold)
    }

    /// The range with the least squared int8 error over the histogram (each bin's values at its
    /// center, quantized as `ActivationQuantization` does). Each bound is searched among the
    /// observed one shrunk toward zero by factors from 1 down to 1/16 in `candidates` even steps,
    /// the other bound held, twice round (the int8 scale couples them). Ties keep the wider range.
    public func mseRange(candidates: Int = 256) -> ClosedRange<Float> {
        guard binWidth > 0 else { return low...high }
        let bins = nonEmptyBins
        let factors = (0..<candidates).map { 1 - Double($0) / Double(candidates) * (15.0 / 16) }
        var (lower, upper) = (low, high)
        for _ in 0..<2 {
            if high > 0 {
                upper = Self.best(factors.map { Float(Double(high) * $0) }, bins) { lower...$0 }
            }
            if low < 0 {
                lower = Self.best(factors.map { Float(Double(low) * $0) }, bins) { $0...upper }
            }
        }
        return lower...upper
    }

    /// The first bound (the widest, for ties) whose range has the least squared error.
    private static func best(_ bounds: [Float], _ bins: [(center: Double, count: Double)],
                             _ range: (Float) -> ClosedRange<Float>) -> Float {
        var best = bounds[0]
        var bestError = Double.infinity
        for bound in bounds {
            let error = squaredError(bins, quantizedWith: ActivationQuantization(range: range(bound)))
            if error < bestError {
                bestError = error
                best = bound
            }
        }
        return best
    }

    /// Σ count · (dequantize(quantize(center)) − center)² over the bins; exact zeros cost nothing
    /// (the zero point is an integer).
    func squaredError(quantizedWith quantization: ActivationQuantization) -> Double {
        Self.squaredError(nonEmptyBins, quantizedWith: quantization)
    }

    /// The non-empty bins as (signed center, count), each side's in order.
    private var nonEmptyBins: [(center: Double, count: Double)] {
        var bins: [(center: Double, count: Double)] = []
        for index in 0..<binCount {
            let center = (Double(index) + 0.5) * binWidth
            if positive[index] > 0 { bins.append((center, Double(positive[index]))) }
            if negative[index] > 0 { bins.append((-center, Double(negative[index]))) }
        }
        return bins
    }

    private static func squaredError(_ bins: [(center: Double, count: Double)], quantizedWith quantization: ActivationQuantization) -> Double {
        let scale = Double(quantization.scale), zeroPoint = Double(quantization.zeroPoint)
        var total = 0.0
        for (center, count) in bins {
            let level = min(max((center / scale).rounded(.toNearestOrEven) + zeroPoint, -128), 127)
            let difference = scale * (level - zeroPoint) - center
            total += count * difference * difference
        }
        return total
    }
}
