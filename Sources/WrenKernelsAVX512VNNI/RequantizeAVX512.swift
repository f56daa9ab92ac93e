// The requantization epilogue (formats/wren-v1.md §7.1, §7.3) for 16 channels in AVX-512,
// bit-identical to `requantizeS8`: 32-bit lanes throughout, 64-bit products via vpmuldq on even
// and odd lanes.
#if arch(x86_64)
import WrenCore
import _Builtin_intrinsics.intel

/// `multiplyByQuantizedMultiplier` for 16 lanes, with everything that depends only on the
/// multipliers and shifts computed once (per block of channels, or per layer) rather than per pixel.
///
/// Two identities keep it short and exact:
/// - gemmlowp's SaturatingRoundingDoublingHighMul is `(a·b + 2^30) >> 31` (arithmetic) for every
///   product: for a negative product its nudge `1 − 2^30` and truncation toward zero give the same
///   floor. The saturating case (a = b = INT32_MIN) cannot occur: no valid file has an INT32_MIN
///   multiplier.
/// - RoundingDivideByPOT rounds half away from zero: `sign(x)·((|x| + 2^(e−1)) >> e)`, computed on
///   |x| as an unsigned 32-bit value (|x| ≤ 2^31 and 2^(e−1) ≤ 2^30, so the sum cannot wrap).
struct RequantizeAVX512 {
    let multiplier: __m512i
    /// The odd lanes' multipliers moved to the even positions (the operand vpmuldq reads).
    let oddMultiplier: __m512i
    let left: __m512i
    let right: __m512i
    let half: __m512i
    /// Whether any lane shifts left (a negative right shift): only then is the saturating left
    /// shift needed.
    let shiftsLeft: Bool

    @inline(__always)
    init(multiplier: __m512i, shift: __m512i) {
        let zero = _mm512_setzero_si512()
        self.multiplier = multiplier
        oddMultiplier = _mm512_srli_epi64(multiplier, 32)
        left = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero)
        right = _mm512_max_epi32(shift, zero)
        half = _mm512_srli_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), right), 1)
        shiftsLeft = _mm512_movepi32_mask(shift) != 0
    }

    @inline(__always)
    init(multiplier: Int32, shift: Int32) {
        self.init(multiplier: _mm512_set1_epi32(multiplier), shift: _mm512_set1_epi32(shift))
    }

    @inline(__always)
    func apply(_ x: __m512i) -> __m512i {
        var a = x
        if shiftsLeft {
            let maxValue = _mm512_set1_epi32(Int32.max), minValue = _mm512_set1_epi32(Int32.min)
            a = _mm512_sllv_epi32(x, left)
            a = _mm512_mask_mov_epi32(a, greater(x, _mm512_srav_epi32(maxValue, left)), maxValue)
            a = _mm512_mask_mov_epi32(a, greater(_mm512_srav_epi32(minValue, left), x), minValue)
        }
        let nudge = _mm512_set1_epi64(1 << 30)
        let even = _mm512_add_epi64(_mm512_mul_epi32(a, multiplier), nudge)
        let odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), oddMultiplier), nudge)
        // Bits 31...62 of each 64-bit sum: shifted down into the even lanes, up into the odd ones.
        let high = _mm512_mask_mov_epi32(_mm512_srli_epi64(even, 31), 0xAAAA, _mm512_slli_epi64(odd, 1))
        let quotient = _mm512_srlv_epi32(_mm512_add_epi32(_mm512_abs_epi32(high), half), right)
        return _mm512_mask_sub_epi32(quotient, _mm512_movepi32_mask(high), _mm512_setzero_si512(), quotient)
    }
}

/// Lanes where a > b (the compare intrinsics are macros Swift cannot import).
@inline(__always)
func greater(_ a: __m512i, _ b: __m512i) -> __mmask16 {
    _mm512_test_epi32_mask(_mm512_xor_si512(_mm512_max_epi32(a, b), b), _mm512_set1_epi32(-1))
}

/// `roundedAwayFraction` for 16 lanes: x / 2^bits rounded half away from zero, on |x| as an
/// unsigned value (as `RequantizeAVX512.apply`'s last step); x itself when bits is 0.
struct FractionRoundingAVX512 {
    let bits: __m512i
    let half: __m512i
    let active: Bool

    @inline(__always)
    init(_ fractionBits: Int32) {
        bits = _mm512_set1_epi32(fractionBits)
        half = _mm512_set1_epi32(fractionBits == 0 ? 0 : 1 << (fractionBits - 1))
        active = fractionBits != 0
    }

    @inline(__always)
    func apply(_ x: __m512i) -> __m512i {
        guard active else { return x }
        let quotient = _mm512_srlv_epi32(_mm512_add_epi32(_mm512_abs_epi32(x), half), bits)
        return _mm512_mask_sub_epi32(quotient, _mm512_movepi32_mask(x), _mm512_setzero_si512(), quotient)
    }
}

/// Per-layer constants of the epilogue, splatted once per tile.
struct EpilogueAVX512 {
    let outputZeroPoint: __m512i
    let low: __m512i
    let residualZeroPoint: __m512i
    let residualScale: RequantizeAVX512
    let fraction: FractionRoundingAVX512

    @inline(__always)
    init(_ p: Conv2DParameters) {
        fraction = FractionRoundingAVX512(p.fractionBits)
        outputZeroPoint = _mm512_set1_epi32(p.outputZeroPoint)
        low = _mm512_set1_epi32(p.relu ? max(p.outputZeroPoint, -128) : -128)
        residualZeroPoint = _mm512_set1_epi32(p.residualZeroPoint)
        residualScale = RequantizeAVX512(multiplier: p.residualMultiplier.multiplier, shift: p.residualMultiplier.rightShift)
    }

    /// Requantizes 16 channels of one pixel (bias and scale already prepared for the block) and
    /// stores them; `residual` points at the same 16 channels of the residual tensor.
    @inline(__always)
    func store(
        _ accumulator: __m512i, bias: __m512i, scale: RequantizeAVX512,
        residual: UnsafePointer<Int8>?, output: UnsafeMutablePointer<Int8>
    ) {
        var value = scale.apply(_mm512_add_epi32(accumulator, bias))
        if let residual {
            let r = _mm512_sub_epi32(
                _mm512_cvtepi8_epi32(UnsafeRawPointer(residual).loadUnaligned(as: __m128i.self)), residualZeroPoint)
            let term = residualScale.apply(r)
            let sum = _mm512_add_epi32(value, term)
            // The exact sum overflowed int32 where both operands' signs differ from the wrapped sum's;
            // it then lies beyond ±2^31 and clamps to the int8 bound of value's sign.
            let overflow = _mm512_movepi32_mask(_mm512_and_si512(_mm512_xor_si512(value, sum), _mm512_xor_si512(term, sum)))
            let bound = _mm512_mask_mov_epi32(_mm512_set1_epi32(Int32.max), _mm512_movepi32_mask(value), _mm512_set1_epi32(Int32.min))
            value = fraction.apply(_mm512_mask_mov_epi32(sum, overflow, bound))
        }
        // |value| ≥ 2^30 clamps to an int8 bound whatever the zero point adds, so this cannot change results.
        value = _mm512_min_epi32(_mm512_max_epi32(value, _mm512_set1_epi32(-(1 << 30))), _mm512_set1_epi32(1 << 30))
        value = _mm512_add_epi32(value, outputZeroPoint)
        value = _mm512_min_epi32(_mm512_max_epi32(value, low), _mm512_set1_epi32(127))
        UnsafeMutableRawPointer(output).storeBytes(of: _mm512_cvtepi32_epi8(value), as: __m128i.self)
    }
}
#endif

#if arch(x86_64)
/// `RequantizeAVX512.apply` on arrays of 16·n values, for tests that compare it with
/// `multiplyByQuantizedMultiplier` on extreme inputs. Call only where the CPU has AVX-512.
func requantizeAVX512ForTesting(_ values: [Int32], multipliers: [Int32], shifts: [Int32]) -> [Int32] {
    precondition(values.count % 16 == 0 && multipliers.count == values.count && shifts.count == values.count)
    var result = [Int32](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { x in multipliers.withUnsafeBufferPointer { m in shifts.withUnsafeBufferPointer { s in
        result.withUnsafeMutableBufferPointer { y in
            for start in stride(from: 0, to: values.count, by: 16) {
                let scale = RequantizeAVX512(multiplier: _mm512_loadu_si512(m.baseAddress! + start), shift: _mm512_loadu_si512(s.baseAddress! + start))
                _mm512_storeu_si512(y.baseAddress! + start, scale.apply(_mm512_loadu_si512(x.baseAddress! + start)))
            }
        }
    } } }
    return result
}
#endif
