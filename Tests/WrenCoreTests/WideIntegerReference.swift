import WrenTestSupport

/// The requantization rule of `formats/wren-v1.md` §7.1 (gemmlowp's SaturatingRoundingDoublingHighMul
/// and RoundingDivideByPOT), written again from the definitions in 64-bit arithmetic without
/// reusing anything from WrenCore, so the tests compare two independent implementations.
enum WideReference {
    /// trunc((a·b + nudge) / 2^31), nudge = 2^30 if a·b ≥ 0 else 1 − 2^30; INT32_MIN² saturates.
    static func saturatingRoundingDoublingHighMul(_ a: Int32, _ b: Int32) -> Int32 {
        if a == Int32.min && b == Int32.min { return Int32.max }
        let product = Int64(a) * Int64(b)  // |a·b| < 2^62 here, so this cannot overflow
        let nudged = product + (product >= 0 ? 1 << 30 : 1 - (1 << 30))
        // Truncation toward zero spelled out as sign and magnitude, not through Int64's `/`.
        let magnitude = Int64(nudged.magnitude >> 31)
        return Int32(nudged >= 0 ? magnitude : -magnitude)
    }

    /// x / 2^exponent rounded to nearest, ties away from zero, exponent in 0...31.
    static func roundingDivideByPowerOfTwo(_ x: Int32, _ exponent: Int) -> Int32 {
        precondition((0...31).contains(exponent))
        if exponent == 0 { return x }
        let half = UInt64(1) << UInt64(exponent - 1)
        let magnitude = Int64((Int64(x).magnitude + half) >> UInt64(exponent))
        return Int32(x < 0 ? -magnitude : magnitude)
    }

    /// RDBPOT(SRDHM(clamp_i32(x · 2^max(−s, 0)), m), max(s, 0)).
    static func multiplyByQuantizedMultiplier(_ x: Int32, _ multiplier: Int32, _ rightShift: Int32) -> Int32 {
        precondition((-31...31).contains(rightShift))
        let left = max(-Int(rightShift), 0)
        let right = max(Int(rightShift), 0)
        let scaled = Int64(x) * (Int64(1) << Int64(left))  // ≤ 2^31 · 2^31, fits
        let clamped = Int32(min(max(scaled, Int64(Int32.min)), Int64(Int32.max)))
        return roundingDivideByPowerOfTwo(saturatingRoundingDoublingHighMul(clamped, multiplier), right)
    }

    /// clamp(v, relu ? max(zo, −128) : −128, 127), the shared int8 epilogue of §7.3 and §7.4.
    static func clampToInt8(_ value: Int64, outputZeroPoint: Int32, relu: Bool) -> Int8 {
        let low = relu ? max(Int64(outputZeroPoint), -128) : -128
        return Int8(min(max(value, low), 127))
    }
}

/// The draws these tests need from the shared generator.
extension SplitMix64 {
    mutating func int32() -> Int32 { Int32(truncatingIfNeeded: next()) }

    /// An Int32 whose magnitude is spread over all bit widths, not concentrated near 2^31.
    mutating func int32AnyWidth() -> Int32 {
        Int32(truncatingIfNeeded: Int64(truncatingIfNeeded: next()) >> Int64(32 + next() % 32))
    }

    /// A valid Q31 multiplier pair (|m| in [2^30, 2^31), shift in `shifts`), or zero now and then.
    mutating func quantizedMultiplier(shifts: ClosedRange<Int32> = -31...31) -> (multiplier: Int32, shift: Int32) {
        if next() % 50 == 0 { return (0, 0) }
        let magnitude = Int32((1 << 30) + Int64(next() % (1 << 30)))
        let sign: Int32 = next() % 2 == 0 ? 1 : -1
        return (sign * magnitude, Int32.random(in: shifts, using: &self))
    }

    mutating func int8() -> Int8 { Int8(truncatingIfNeeded: next()) }
}
