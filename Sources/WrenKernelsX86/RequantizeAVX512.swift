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

extension S8Conv2DTile {
    /// `store(pixel:block:accumulator:)` in AVX-512 for full 16-channel blocks.
    @inline(__always)
    func storeAVX512(pixel: Int, block: Int, accumulator: __m512i) {
        let p = parameters
        let channel = block &* 16
        guard p.outChannels &- channel >= 16 else {
            store(pixel: pixel, block: block, accumulator: unsafeBitCast(accumulator, to: SIMD16<Int32>.self))
            return
        }
        let at = (firstPixel &+ pixel) &* p.outChannels &+ channel
        let bias = _mm512_loadu_si512(unsignedInputBias + channel)
        var value = multiplyByQuantizedMultiplierAVX512(
            _mm512_add_epi32(accumulator, bias), _mm512_loadu_si512(multipliers + channel), _mm512_loadu_si512(shifts + channel))
        if let residual {
            let r = _mm512_sub_epi32(
                _mm512_cvtepi8_epi32(UnsafeRawPointer(residual + at).loadUnaligned(as: __m128i.self)), _mm512_set1_epi32(p.residualZeroPoint))
            let term = multiplyByQuantizedMultiplierAVX512(
                r, _mm512_set1_epi32(p.residualMultiplier.multiplier), _mm512_set1_epi32(p.residualMultiplier.rightShift))
            let sum = _mm512_add_epi32(value, term)
            // The exact sum overflowed int32 where both operands' signs differ from the wrapped sum's;
            // it then lies beyond ±2^31 and clamps to the int8 bound of value's sign.
            let overflow = _mm512_movepi32_mask(_mm512_and_si512(_mm512_xor_si512(value, sum), _mm512_xor_si512(term, sum)))
            let bound = _mm512_mask_mov_epi32(_mm512_set1_epi32(Int32.max), _mm512_movepi32_mask(value), _mm512_set1_epi32(Int32.min))
            value = _mm512_mask_mov_epi32(sum, overflow, bound)
        }
        // |value| ≥ 2^30 clamps to an int8 bound whatever the zero point adds, so this cannot change results.
        value = _mm512_min_epi32(_mm512_max_epi32(value, _mm512_set1_epi32(-(1 << 30))), _mm512_set1_epi32(1 << 30))
        value = _mm512_add_epi32(value, _mm512_set1_epi32(p.outputZeroPoint))
        let low = p.relu ? max(p.outputZeroPoint, -128) : -128
        value = _mm512_min_epi32(_mm512_max_epi32(value, _mm512_set1_epi32(low)), _mm512_set1_epi32(127))
        UnsafeMutableRawPointer(output + at).storeBytes(of: _mm512_cvtepi32_epi8(value), as: __m128i.self)
    }
}
#endif
