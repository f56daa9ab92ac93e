/// The requantization epilogues built on FixedPoint.swift's gemmlowp arithmetic
/// (`formats/wren-v1.md` §7.1, §7.3).

/// The epilogue every int8 kernel shares: requantize, add the rescaled residual, round away the
/// `fractionBits` (rule 2), shift by the output zero point, clamp (at the zero point when a ReLU
/// follows). Sums are exact (Int64) before the clamp, so no intermediate wraps.
@inlinable
public func requantizeS8(
    accumulator: Int32, multiplier: Int32, rightShift: Int32, residual: Int32?, residualMultiplier: QuantizedMultiplier,
    outputZeroPoint: Int32, relu: Bool, fractionBits: Int32 = 0
) -> Int8 {
    var value = Int64(multiplyByQuantizedMultiplier(accumulator, multiplier, rightShift))
    if let residual {
        value += Int64(multiplyByQuantizedMultiplier(residual, residualMultiplier.multiplier, residualMultiplier.rightShift))
    }
    value = roundedAwayFraction(value, fractionBits)
    value += Int64(outputZeroPoint)
    let low: Int64 = relu ? max(Int64(outputZeroPoint), -128) : -128
    return Int8(min(max(value, low), 127))
}

/// `value / 2^fractionBits` rounded half away from zero (RDBPOT of the value clamped to int32, which
/// changes nothing: beyond ±2^31 / 2^8 every result clamps to an int8 bound); `value` itself for 0.
@inlinable
public func roundedAwayFraction(_ value: Int64, _ fractionBits: Int32) -> Int64 {
    fractionBits == 0 ? value : Int64(roundingDivideByPowerOfTwo(Int32(clamping: value), fractionBits))
}
