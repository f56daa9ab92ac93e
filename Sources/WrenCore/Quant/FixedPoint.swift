/// Integer requantization, gemmlowp/TFLite "double rounding" rule:
/// `SaturatingRoundingDoublingHighMul` then `RoundingDivideByPOT`. Every `.wren` v1 file assumes it
/// (the file's rounding-rule field is 1). All functions are total: no input traps.

/// `round(a * b / 2^31)`, exact ties rounded toward +∞ (gemmlowp's nudge: -0.5 → 0), saturating the single overflow case.
@inlinable
public func saturatingRoundingDoublingHighMul(_ a: Int32, _ b: Int32) -> Int32 {
    if a == b && a == Int32.min { return Int32.max }
    let product = Int64(a) * Int64(b)
    let nudge: Int64 = product >= 0 ? (1 << 30) : (1 - (1 << 30))
    // Int64 division truncates toward zero, as gemmlowp's C++ does.
    return Int32(truncatingIfNeeded: (product + nudge) / (1 << 31))
}

/// `x / 2^exponent` rounded to nearest, ties away from zero; `exponent` in 0...31.
@inlinable
public func roundingDivideByPowerOfTwo(_ x: Int32, _ exponent: Int32) -> Int32 {
    let mask: Int32 = Int32(truncatingIfNeeded: (Int64(1) << Int64(exponent)) - 1)
    let remainder = x & mask
    let threshold = (mask >> 1) + (x < 0 ? 1 : 0)
    return (x >> exponent) + (remainder > threshold ? 1 : 0)
}

/// `x * multiplier / 2^31 * 2^-rightShift`, the requantization of one accumulator.
/// `rightShift` in -31...31; a negative value is a (saturating) left shift applied first.
@inlinable
public func multiplyByQuantizedMultiplier(_ x: Int32, _ multiplier: Int32, _ rightShift: Int32) -> Int32 {
    let left = rightShift < 0 ? -rightShift : 0
    let right = rightShift > 0 ? rightShift : 0
    let shifted = Int64(x) << Int64(left)
    let saturated = Int32(clamping: shifted)
    return roundingDivideByPowerOfTwo(saturatingRoundingDoublingHighMul(saturated, multiplier), right)
}

/// `multiplyByQuantizedMultiplier` for the int64 accumulator of a convolution that reads an int16
/// tensor (formats/wren-v1.md §7.6), bit-exact everywhere:
///
///     a = clamp(x · 2^max(−s, 0), −2^47, 2^47)            (x·2^left exact, then clamped)
///     h = ⌊(a · m + 2^30) / 2^31⌋                         (exact; SRDHM without the int32 saturation)
///     MBQM64(x, m, s) = RDBPOT(h, max(s, 0))               (the same formula, in 64 bits)
///
/// For an `a` that fits in int32 this is exactly `multiplyByQuantizedMultiplier` (gemmlowp's nudge
/// and truncation equal ⌊(a·m + 2^30) / 2^31⌋; a valid m is never INT32_MIN). Validation keeps
/// |x| < 2^47; the clamp only bites where the result saturates any output anyway (|h| ≥ 2^46).
/// `a · m` (up to 2^78) is split as a = hi·2^31 + lo, 0 ≤ lo < 2^31, so every product fits in 64
/// bits: ⌊(a·m + 2^30) / 2^31⌋ = hi·m + ⌊(lo·m + 2^30) / 2^31⌋.
@inlinable
public func multiplyByQuantizedMultiplier64(_ x: Int64, _ multiplier: Int32, _ rightShift: Int32) -> Int64 {
    let left = rightShift < 0 ? Int64(-rightShift) : 0
    let right = rightShift > 0 ? Int64(rightShift) : 0
    let limit = Int64(1) << 47
    let reach = limit >> left
    let a = x > reach ? limit : x < -reach ? -limit : x << left
    let hi = a >> 31, lo = a & 0x7FFF_FFFF
    let m = Int64(multiplier)
    let h = hi &* m &+ ((lo &* m &+ (1 << 30)) >> 31)
    let mask = (Int64(1) << right) &- 1
    let threshold = (mask >> 1) &+ (h < 0 ? 1 : 0)
    return (h >> right) &+ ((h & mask) > threshold ? 1 : 0)
}

/// A real multiplier as a Q31 integer and a right shift: `real ≈ multiplier / 2^31 * 2^-rightShift`.
public struct QuantizedMultiplier: Equatable, Sendable {
    public var multiplier: Int32
    public var rightShift: Int32

    public init(multiplier: Int32, rightShift: Int32) {
        self.multiplier = multiplier
        self.rightShift = rightShift
    }

    /// The closest representable multiplier; nil when `real` is not finite or too large (≥ 2^31).
    /// Magnitudes below 2^-32 become the zero multiplier.
    public init?(real: Double) {
        guard real.isFinite else { return nil }
        if real == 0 {
            self.init(multiplier: 0, rightShift: 0)
            return
        }
        let magnitude = real.magnitude
        // magnitude = fraction * 2^exponent with fraction in [0.5, 1).
        var exponent = Int(magnitude.exponent) + 1
        let fraction = magnitude / Double(sign: .plus, exponent: exponent, significand: 1)
        var q = (fraction * 2147483648.0).rounded(.toNearestOrAwayFromZero)
        if q == 2147483648.0 {
            q /= 2
            exponent += 1
        }
        let rightShift = -exponent
        if rightShift > 31 {
            self.init(multiplier: 0, rightShift: 0)
            return
        }
        guard rightShift >= -31 else { return nil }
        let signed = real < 0 ? -Int32(q) : Int32(q)
        self.init(multiplier: signed, rightShift: Int32(rightShift))
    }

    /// True when the pair is one `QuantizedMultiplier(real:)` can produce.
    public var isValid: Bool {
        if multiplier == 0 { return rightShift == 0 }
        let magnitude = multiplier == Int32.min ? Int64(1) << 31 : Int64(multiplier.magnitude)
        return magnitude >= (1 << 30) && magnitude < (1 << 31) && rightShift >= -31 && rightShift <= 31
    }

    /// The real value this pair stands for.
    public var realValue: Double {
        Double(multiplier) / 2147483648.0 * Double(sign: .plus, exponent: Int(-rightShift), significand: 1)
    }
}
