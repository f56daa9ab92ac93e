/// Inverted dropout, in place: in training each value is kept with probability 1 − p and scaled by
/// 1/(1 − p), or zeroed; evaluation is the identity (do not call it). The mask is drawn from the
/// layer's own seeded generator, so a run is reproducible from its seed (PyTorch's masks come from
/// its own generator and are not reproduced). In a WRN block dropout sits between relu2 and conv2
/// and can work in place on relu2's output: bn2's backward reads its input, not that output.
///
/// The layer owns the mask (one Float per value, 0 or 1/(1 − p), so forward and backward are one
/// multiply), sized for `maxCount` values. Value i of a forward is decided by draw ⌊i/2⌋ of a
/// counter-based generator (SplitMix64 is a hash of seed + draw number), so the team can split the
/// values and the mask is the same for any team size.
public final class DropoutLayer {
    /// p, the probability of zeroing a value, in 0..<1.
    public let probability: Double
    public let maxCount: Int
    public let team: ThreadTeam
    private let maskStorage: TrainingBuffer
    private var seed: UInt64
    /// 64-bit draws used since seeding.
    private var draws: UInt64 = 0
    /// Values covered by the last mask drawn.
    public private(set) var maskCount = 0

    public init(probability: Double, maxCount: Int, seed: UInt64, team: ThreadTeam = .single) throws(TrainingError) {
        guard probability >= 0, probability < 1 else {
            throw .invalidConfiguration("dropout probability \(probability): must be in 0..<1")
        }
        guard maxCount >= 0 else { throw .invalidConfiguration("dropout over \(maxCount) values") }
        self.probability = probability
        self.maxCount = maxCount
        self.team = team
        self.seed = seed
        // p = 0 needs no mask: forward and backward do nothing.
        maskStorage = TrainingBuffer(count: probability == 0 ? 0 : maxCount)
    }

    /// True when forward and backward leave values unchanged, so a network may skip the layer.
    public var isIdentity: Bool { probability == 0 }

    /// The mask of the last forward: 0 for a dropped value, 1/(1 − p) for a kept one.
    public var mask: UnsafeBufferPointer<Float> { maskStorage.prefix(maskCount) }

    /// Restarts the mask sequence, e.g. to resume a run.
    public func reseed(_ seed: UInt64) {
        self.seed = seed
        draws = 0
    }

    /// 64-bit draws used since seeding: with the seed, where the mask sequence stands.
    public var drawsUsed: UInt64 {
        get { draws }
        set { draws = newValue }
    }

    /// Draws a new mask for the first `count` values and multiplies them by it.
    public func forwardTraining(_ values: UnsafeMutableBufferPointer<Float>, count: Int) {
        precondition(count >= 0 && count <= maxCount && count <= values.count,
                     "dropout over \(count) values, sized for \(maxCount), buffer of \(values.count)")
        guard probability > 0 else { return }
        // Keep a value when 32 random bits are at or above p·2³², so P(drop) = p to within 2⁻³².
        let threshold = UInt32(min(probability * 4_294_967_296, 4_294_967_295))
        let keptScale = Float(1 / (1 - probability))
        let pairs = (count + 1) / 2
        team.run({ call, member in
            let call = call.assumingMemoryBound(to: Call.self).pointee
            let mask = call.mask, x = call.values
            for pair in call.team.share(of: call.pairs, member: member) {
                let bits = splitMix64(seed: call.seed, draw: call.firstDraw &+ UInt64(pair))
                let index = 2 * pair
                mask[index] = UInt32(truncatingIfNeeded: bits) >= call.threshold ? call.keptScale : 0
                x[index] *= mask[index]
                guard index + 1 < call.count else { continue }
                mask[index + 1] = UInt32(truncatingIfNeeded: bits >> 32) >= call.threshold ? call.keptScale : 0
                x[index + 1] *= mask[index + 1]
            }
        }, with: Call(team: team, values: values.baseAddress!, mask: maskStorage.values.baseAddress!, count: count,
                      pairs: pairs, seed: seed, firstDraw: draws, threshold: threshold, keptScale: keptScale))
        draws &+= UInt64(pairs)
        maskCount = count
    }

    /// Multiplies the gradient of the last forward's `count` outputs by its mask, in place.
    public func backward(_ gradient: UnsafeMutableBufferPointer<Float>, count: Int) {
        guard probability > 0 else { return }
        precondition(count == maskCount && count <= gradient.count,
                     "dropout backward over \(count) values; the last forward covered \(maskCount), buffer of \(gradient.count)")
        team.run({ call, member in
            let call = call.assumingMemoryBound(to: Call.self).pointee
            for i in call.team.share(of: call.count, member: member) { call.values[i] *= call.mask[i] }
        }, with: Call(team: team, values: gradient.baseAddress!, mask: maskStorage.values.baseAddress!, count: count))
    }
}

/// One call, as each team member reads it.
private struct Call {
    let team: ThreadTeam
    let values: UnsafeMutablePointer<Float>
    let mask: UnsafeMutablePointer<Float>
    let count: Int
    var pairs = 0
    var seed: UInt64 = 0
    var firstDraw: UInt64 = 0
    var threshold: UInt32 = 0
    var keptScale: Float = 0
}

/// Draw `draw` (from 0) of SplitMix64 (Steele, Lea & Flood) seeded with `seed`: the generator's
/// state after n draws is seed + n·γ, so any draw can be computed directly.
@inline(__always) func splitMix64(seed: UInt64, draw: UInt64) -> UInt64 {
    var z = seed &+ (draw &+ 1) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
