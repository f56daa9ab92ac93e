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
}
