// The requantization epilogue (formats/wren-v1.md §7.1, §7.3) for 16 channels in AVX-512,
// bit-identical to `requantizeS8`: 32-bit lanes throughout, 64-bit products via vpmuldq on even
// and odd lanes. Multipliers are never INT32_MIN in a valid file, so SRDHM's saturation case
// cannot occur.
#if arch(x86_64)
import WrenCore
import _Builtin_intrinsics.intel

@inline(__always)
func multiplyByQuantizedMultiplierAVX512(_ x: __m512i, _ multiplier: __m512i, _ rightShift: __m512i) -> __m512i {
    let zero = _mm512_setzero_si512()
    let left = _mm512_max_epi32(_mm512_sub_epi32(zero, rightShift), zero)
    let right = _mm512_max_epi32(rightShift, zero)
    // Saturating left shift.
    let maxValue = _mm512_set1_epi32(Int32.max), minValue = _mm512_set1_epi32(Int32.min)
    var shifted = _mm512_sllv_epi32(x, left)
    shifted = _mm512_mask_mov_epi32(shifted, greater(x, _mm512_srav_epi32(maxValue, left)), maxValue)
    shifted = _mm512_mask_mov_epi32(shifted, greater(_mm512_srav_epi32(minValue, left), x), minValue)
    // SaturatingRoundingDoublingHighMul on even and odd lanes.
    let even = highMul(_mm512_mul_epi32(shifted, multiplier))
    let odd = highMul(_mm512_mul_epi32(_mm512_srli_epi64(shifted, 32), _mm512_srli_epi64(multiplier, 32)))
    let high = _mm512_mask_mov_epi32(even, 0xAAAA, _mm512_slli_epi64(odd, 32))
    // RoundingDivideByPOT.
    let one = _mm512_set1_epi32(1)
    let mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one)
    let remainder = _mm512_and_si512(high, mask)
    var threshold = _mm512_srai_epi32(mask, 1)
    threshold = _mm512_mask_add_epi32(threshold, _mm512_movepi32_mask(high), threshold, one)
    let quotient = _mm512_srav_epi32(high, right)
    // remainder and threshold lie in 0...2^31-1, so threshold - remainder cannot overflow.
    return _mm512_mask_add_epi32(quotient, _mm512_movepi32_mask(_mm512_sub_epi32(threshold, remainder)), quotient, one)
}

/// Lanes where a > b (the compare intrinsics are macros Swift cannot import).
@inline(__always)
func greater(_ a: __m512i, _ b: __m512i) -> __mmask16 {
    _mm512_test_epi32_mask(_mm512_xor_si512(_mm512_max_epi32(a, b), b), _mm512_set1_epi32(-1))
}

/// (p + nudge) / 2^31 truncated toward zero, for 64-bit products p.
@inline(__always)
private func highMul(_ product: __m512i) -> __m512i {
    let negative = _mm512_movepi64_mask(product)
    let nudge = _mm512_mask_mov_epi64(_mm512_set1_epi64(1 << 30), negative, _mm512_set1_epi64(1 - (1 << 30)))
    var sum = _mm512_add_epi64(product, nudge)
    sum = _mm512_mask_add_epi64(sum, _mm512_movepi64_mask(sum), sum, _mm512_set1_epi64((1 << 31) - 1))
    return _mm512_srai_epi64(sum, 31)
}

/// Per-layer constants of the epilogue, splatted once per tile.
struct EpilogueAVX512 {
    let outputZeroPoint: __m512i
    let low: __m512i
    let residualZeroPoint: __m512i
    let residualMultiplier: __m512i
    let residualShift: __m512i

    @inline(__always)
    init(_ p: Conv2DParameters) {
        outputZeroPoint = _mm512_set1_epi32(p.outputZeroPoint)
        low = _mm512_set1_epi32(p.relu ? max(p.outputZeroPoint, -128) : -128)
        residualZeroPoint = _mm512_set1_epi32(p.residualZeroPoint)
        residualMultiplier = _mm512_set1_epi32(p.residualMultiplier.multiplier)
        residualShift = _mm512_set1_epi32(p.residualMultiplier.rightShift)
    }

    /// Requantizes 16 channels of one pixel (bias, multipliers and shifts already loaded for the
    /// block) and stores them; `residual` points at the same 16 channels of the residual tensor.
    @inline(__always)
    func store(
        _ accumulator: __m512i, bias: __m512i, multiplier: __m512i, shift: __m512i,
        residual: UnsafePointer<Int8>?, output: UnsafeMutablePointer<Int8>
    ) {
        var value = multiplyByQuantizedMultiplierAVX512(_mm512_add_epi32(accumulator, bias), multiplier, shift)
        if let residual {
            let r = _mm512_sub_epi32(
                _mm512_cvtepi8_epi32(UnsafeRawPointer(residual).loadUnaligned(as: __m128i.self)), residualZeroPoint)
            let term = multiplyByQuantizedMultiplierAVX512(r, residualMultiplier, residualShift)
            let sum = _mm512_add_epi32(value, term)
            // The exact sum overflowed int32 where both operands' signs differ from the wrapped sum's;
            // it then lies beyond ±2^31 and clamps to the int8 bound of value's sign.
            let overflow = _mm512_movepi32_mask(_mm512_and_si512(_mm512_xor_si512(value, sum), _mm512_xor_si512(term, sum)))
            let bound = _mm512_mask_mov_epi32(_mm512_set1_epi32(Int32.max), _mm512_movepi32_mask(value), _mm512_set1_epi32(Int32.min))
            value = _mm512_mask_mov_epi32(sum, overflow, bound)
        }
        // |value| ≥ 2^30 clamps to an int8 bound whatever the zero point adds, so this cannot change results.
        value = _mm512_min_epi32(_mm512_max_epi32(value, _mm512_set1_epi32(-(1 << 30))), _mm512_set1_epi32(1 << 30))
        value = _mm512_add_epi32(value, outputZeroPoint)
        value = _mm512_min_epi32(_mm512_max_epi32(value, low), _mm512_set1_epi32(127))
        UnsafeMutableRawPointer(output).storeBytes(of: _mm512_cvtepi32_epi8(value), as: __m128i.self)
    }
}
#endif
