/// Inverted dropout, in place: in training each value is kept with probability 1 − p and scaled by
/// 1/(1 − p), or zeroed; evaluation is the identity (do not call it). The mask is drawn from the
/// layer's own seeded generator, so a run is reproducible from its seed (PyTorch's masks come from
/// its own generator and are not reproduced). In a WRN block dropout sits between relu2 and conv2
/// and can work in place on relu2's output: bn2's backward reads its input, not that output.
///
/// The layer owns the mask (one Float per value, 0 or 1/(1 − p), so forward and backward are one
/// multiply), sized for `maxCount` values.
public final class DropoutLayer {
    /// p, the probability of zeroing a value, in 0..<1.
    public let probability: Double
    public let maxCount: Int
    private let maskStorage: TrainingBuffer
    private var generator: MaskGenerator
    /// Values covered by the last mask drawn.
    public private(set) var maskCount = 0

    public init(probability: Double, maxCount: Int, seed: UInt64) throws(TrainingError) {
        guard probability >= 0, probability < 1 else {
            throw .invalidConfiguration("dropout probability \(probability): must be in 0..<1")
        }
        guard maxCount >= 0 else { throw .invalidConfiguration("dropout over \(maxCount) values") }
        self.probability = probability
        self.maxCount = maxCount
        // p = 0 needs no mask: forward and backward do nothing.
        maskStorage = TrainingBuffer(count: probability == 0 ? 0 : maxCount)
        generator = MaskGenerator(seed: seed)
    }

    /// True when forward and backward leave values unchanged, so a network may skip the layer.
    public var isIdentity: Bool { probability == 0 }

    /// The mask of the last forward: 0 for a dropped value, 1/(1 − p) for a kept one.
    public var mask: UnsafeBufferPointer<Float> { maskStorage.prefix(maskCount) }

    /// Restarts the mask sequence, e.g. to resume a run.
    public func reseed(_ seed: UInt64) { generator = MaskGenerator(seed: seed) }

    /// Draws a new mask for the first `count` values and multiplies them by it.
    public func forwardTraining(_ values: UnsafeMutableBufferPointer<Float>, count: Int) {
        precondition(count >= 0 && count <= maxCount && count <= values.count,
                     "dropout over \(count) values, sized for \(maxCount), buffer of \(values.count)")
        guard probability > 0 else { return }
        // Keep a value when 32 random bits are at or above p·2³², so P(drop) = p to within 2⁻³².
        let threshold = UInt32(min(probability * 4_294_967_296, 4_294_967_295))
        let keptScale = Float(1 / (1 - probability))
        let mask = maskStorage.values.baseAddress!, x = values.baseAddress!
        var index = 0
        while index < count {
            let bits = generator.next()
            mask[index] = UInt32(truncatingIfNeeded: bits) >= threshold ? keptScale : 0
            if index + 1 < count { mask[index + 1] = UInt32(truncatingIfNeeded: bits >> 32) >= threshold ? keptScale : 0 }
            index += 2
        }
        for i in 0..<count { x[i] *= mask[i] }
        maskCount = count
    }

    /// Multiplies the gradient of the last forward's `count` outputs by its mask, in place.
    public func backward(_ gradient: UnsafeMutableBufferPointer<Float>, count: Int) {
        guard probability > 0 else { return }
        precondition(count == maskCount && count <= gradient.count,
                     "dropout backward over \(count) values; the last forward covered \(maskCount), buffer of \(gradient.count)")
        let mask = maskStorage.values.baseAddress!, g = gradient.baseAddress!
        for i in 0..<count { g[i] *= mask[i] }
    }
}

/// SplitMix64 (Steele, Lea & Flood): small, fast, and plenty for Bernoulli masks.
struct MaskGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
