/// Sixteen lanes of `requantizeS8` at once, bit-identical to the scalar epilogue: the fast
/// kernels' output stage. Written with Swift SIMD so each ISA module inlines it with its own
/// vector width.
@inlinable
public func multiplyByQuantizedMultiplierX16(
    _ x: SIMD16<Int32>, _ multiplier: SIMD16<Int32>, _ rightShift: SIMD16<Int32>
) -> SIMD16<Int32> {
    let zero = SIMD16<Int32>(repeating: 0)
    let left = SIMD16<Int64>(truncatingIfNeeded: zero.replacing(with: 0 &- rightShift, where: rightShift .< 0))
    let right = zero.replacing(with: rightShift, where: rightShift .> 0)
    // Saturating left shift (shift ≤ 31 keeps |x·2^left| < 2^62).
    let shifted = SIMD16<Int64>(truncatingIfNeeded: x) &<< left
    let saturated = SIMD16<Int32>(truncatingIfNeeded: shifted.clamped(
        lowerBound: SIMD16<Int64>(repeating: Int64(Int32.min)), upperBound: SIMD16<Int64>(repeating: Int64(Int32.max))))
    // SaturatingRoundingDoublingHighMul.
    let product = SIMD16<Int64>(truncatingIfNeeded: saturated) &* SIMD16<Int64>(truncatingIfNeeded: multiplier)
    let nudge = SIMD16<Int64>(repeating: 1 << 30).replacing(with: 1 - (1 << 30), where: product .< 0)
    let nudged = product &+ nudge
    // Division by 2^31 truncating toward zero: bias negative values by 2^31 - 1 before the shift.
    let bias = SIMD16<Int64>(repeating: 0).replacing(with: (1 << 31) - 1, where: nudged .< 0)
    var high = SIMD16<Int32>(truncatingIfNeeded: (nudged &+ bias) &>> 31)
    let overflow = (saturated .== SIMD16<Int32>(repeating: Int32.min)) .& (multiplier .== SIMD16<Int32>(repeating: Int32.min))
    high.replace(with: Int32.max, where: overflow)
    // RoundingDivideByPOT.
    let mask = (SIMD16<Int32>(repeating: 1) &<< right) &- 1
    let remainder = high & mask
    let threshold = (mask &>> 1) &+ zero.replacing(with: 1, where: high .< 0)
    return (high &>> right) &+ zero.replacing(with: 1, where: remainder .> threshold)
}

/// requantizeS8 for 16 output channels: accumulators, per-channel multipliers/shifts, an optional
/// residual (already minus its zero point), output zero point and ReLU floor.
@inlinable
public func requantizeS8X16(
    _ accumulator: SIMD16<Int32>, multiplier: SIMD16<Int32>, rightShift: SIMD16<Int32>,
    residual: SIMD16<Int32>?, residualMultiplier: QuantizedMultiplier, outputZeroPoint: Int32, low: Int32
) -> SIMD16<Int8> {
    var value = SIMD16<Int64>(truncatingIfNeeded: multiplyByQuantizedMultiplierX16(accumulator, multiplier, rightShift))
    if let residual {
        value &+= SIMD16<Int64>(truncatingIfNeeded: multiplyByQuantizedMultiplierX16(
            residual, SIMD16(repeating: residualMultiplier.multiplier), SIMD16(repeating: residualMultiplier.rightShift)))
    }
    value &+= SIMD16<Int64>(repeating: Int64(outputZeroPoint))
    let clamped = value.clamped(lowerBound: SIMD16<Int64>(repeating: Int64(low)), upperBound: SIMD16<Int64>(repeating: 127))
    return SIMD16<Int8>(truncatingIfNeeded: clamped)
}
