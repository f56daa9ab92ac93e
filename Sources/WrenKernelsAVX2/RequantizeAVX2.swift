// The requantization epilogue (formats/wren-v1.md §7.1, §7.3) for 8 channels in AVX2, the same
// arithmetic as `RequantizeAVX512` (WrenKernelsAVX512VNNI) on half as many lanes, with compares and
// blends where AVX-512 has mask registers. Bit-identical to `requantizeS8`.
#if arch(x86_64)
import WrenCore
import _Builtin_intrinsics.intel

/// `multiplyByQuantizedMultiplier` for 8 lanes, with everything that depends only on the
/// multipliers and shifts computed once per block of channels (or per layer).
///
/// - SaturatingRoundingDoublingHighMul is `(a·b + 2^30) >> 31` (arithmetic) for every product
///   (no valid file has an INT32_MIN multiplier, the only saturating case).
/// - RoundingDivideByPOT rounds half away from zero: `sign(x)·((|x| + 2^(e−1)) >> e)` on |x| as
///   an unsigned value (|x| ≤ 2^31, 2^(e−1) ≤ 2^30: no wrap). `vpsignd` restores the sign and
///   leaves 0 where x is 0 (the quotient is 0 there anyway).
struct RequantizeAVX2 {
    let multiplier: __m256i
    /// The odd lanes' multipliers moved to the even positions (the operand vpmuldq reads).
    let oddMultiplier: __m256i
    let left: __m256i
    let right: __m256i
    let half: __m256i
    /// Whether any lane shifts left (a negative right shift): only then is the saturating left
    /// shift needed.
    let shiftsLeft: Bool

    @inline(__always)
    init(multiplier: __m256i, shift: __m256i) {
        let zero = _mm256_setzero_si256()
        self.multiplier = multiplier
        oddMultiplier = _mm256_srli_epi64(multiplier, 32)
        left = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero)
        right = _mm256_max_epi32(shift, zero)
        half = _mm256_srli_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), right), 1)
        shiftsLeft = _mm256_movemask_ps(_mm256_castsi256_ps(shift)) != 0
    }

    @inline(__always)
    init(multiplier: Int32, shift: Int32) {
        self.init(multiplier: _mm256_set1_epi32(multiplier), shift: _mm256_set1_epi32(shift))
    }

    @inline(__always)
    func apply(_ x: __m256i) -> __m256i {
        var a = x
        if shiftsLeft {
            let maxValue = _mm256_set1_epi32(Int32.max), minValue = _mm256_set1_epi32(Int32.min)
            a = _mm256_sllv_epi32(x, left)
            a = _mm256_blendv_epi8(a, maxValue, _mm256_cmpgt_epi32(x, _mm256_srav_epi32(maxValue, left)))
            a = _mm256_blendv_epi8(a, minValue, _mm256_cmpgt_epi32(_mm256_srav_epi32(minValue, left), x))
        }
        let nudge = _mm256_set1_epi64x(1 << 30)
        let even = _mm256_add_epi64(_mm256_mul_epi32(a, multiplier), nudge)
        let odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), oddMultiplier), nudge)
        // Bits 31...62 of each 64-bit sum: shifted down into the even lanes, up into the odd ones.
        let high = _mm256_blendv_epi8(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), oddLanes)
        let quotient = _mm256_srlv_epi32(_mm256_add_epi32(_mm256_abs_epi32(high), half), right)
        return _mm256_sign_epi32(quotient, high)
    }
}

/// All bits set in the odd 32-bit lanes: the blend mask that takes those lanes from the second operand.
@inline(__always)
var oddLanes: __m256i { _mm256_set_epi32(-1, 0, -1, 0, -1, 0, -1, 0) }

/// `roundedAwayFraction` for 8 lanes: x / 2^bits rounded half away from zero, on |x| as an
/// unsigned value with `vpsignd` restoring the sign; x itself when bits is 0.
struct FractionRoundingAVX2 {
    let bits: __m256i
    let half: __m256i
    let active: Bool

    @inline(__always)
    init(_ fractionBits: Int32) {
        bits = _mm256_set1_epi32(fractionBits)
        half = _mm256_set1_epi32(fractionBits == 0 ? 0 : 1 << (fractionBits - 1))
        active = fractionBits != 0
    }

    @inline(__always)
    func apply(_ x: __m256i) -> __m256i {
        guard active else { return x }
        return _mm256_sign_epi32(_mm256_srlv_epi32(_mm256_add_epi32(_mm256_abs_epi32(x), half), bits), x)
    }
}

/// Per-layer constants of the epilogue, splatted once per tile.
struct EpilogueAVX2 {
    let outputZeroPoint: __m256i
    let low: __m256i
    let residualZeroPoint: __m256i
    let residualScale: RequantizeAVX2
    let fraction: FractionRoundingAVX2

    @inline(__always)
    init(_ p: Conv2DParameters) {
        fraction = FractionRoundingAVX2(p.fractionBits)
        outputZeroPoint = _mm256_set1_epi32(p.outputZeroPoint)
        low = _mm256_set1_epi32(p.relu ? max(p.outputZeroPoint, -128) : -128)
        residualZeroPoint = _mm256_set1_epi32(p.residualZeroPoint)
        residualScale = RequantizeAVX2(multiplier: p.residualMultiplier.multiplier, shift: p.residualMultiplier.rightShift)
    }

    /// Requantizes 8 channels (accumulator plus bias, scaled), adds the rescaled residual, shifts
    /// by the output zero point and clamps: int32 lanes within [-128, 127].
    @inline(__always)
    func values(_ accumulator: __m256i, bias: __m256i, scale: RequantizeAVX2, residual: UnsafePointer<Int8>?) -> __m256i {
        var value = scale.apply(_mm256_add_epi32(accumulator, bias))
        if let residual {
            let bytes = _mm_cvtsi64_si128(Int64(bitPattern: UnsafeRawPointer(residual).loadUnaligned(as: UInt64.self)))
            let r = _mm256_sub_epi32(_mm256_cvtepi8_epi32(bytes), residualZeroPoint)
            let term = residualScale.apply(r)
            let sum = _mm256_add_epi32(value, term)
            // The exact sum overflowed int32 where both operands' signs differ from the wrapped sum's;
            // it then lies beyond ±2^31 and clamps to the int8 bound of value's sign.
            let overflow = _mm256_srai_epi32(_mm256_and_si256(_mm256_xor_si256(value, sum), _mm256_xor_si256(term, sum)), 31)
            let bound = _mm256_blendv_epi8(_mm256_set1_epi32(Int32.max), _mm256_set1_epi32(Int32.min), _mm256_srai_epi32(value, 31))
            value = fraction.apply(_mm256_blendv_epi8(sum, bound, overflow))
        }
        // |value| ≥ 2^30 clamps to an int8 bound whatever the zero point adds, so this cannot change results.
        value = _mm256_min_epi32(_mm256_max_epi32(value, _mm256_set1_epi32(-(1 << 30))), _mm256_set1_epi32(1 << 30))
        value = _mm256_add_epi32(value, outputZeroPoint)
        return _mm256_min_epi32(_mm256_max_epi32(value, low), _mm256_set1_epi32(127))
    }
}

/// Stores 16 int32 lanes already within [-128, 127] (channels 0–7 in `low`, 8–15 in `high`) as 16 bytes.
@inline(__always)
func storeBytes(_ low: __m256i, _ high: __m256i, to output: UnsafeMutablePointer<Int8>) {
    // packs work within 128-bit halves: dwords of the packed bytes come out as channels
    // 0–3, 8–11, 0–3, 8–11 | 4–7, 12–15, 4–7, 12–15; the permutation puts them in order.
    let words = _mm256_packs_epi32(low, high)
    let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(words, words), _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5))
    UnsafeMutableRawPointer(output).storeBytes(of: _mm256_castsi256_si128(bytes), as: __m128i.self)
}

/// Stores 8 int32 lanes already within [-128, 127] as 8 bytes.
@inline(__always)
func storeBytes(_ value: __m256i, to output: UnsafeMutablePointer<Int8>) {
    let words = _mm256_packs_epi32(value, value)
    let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(words, words), _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4))
    UnsafeMutableRawPointer(output).storeBytes(of: _mm_cvtsi128_si64(_mm256_castsi256_si128(bytes)), as: Int64.self)
}

/// `RequantizeAVX2.apply` on arrays of 8·n values, for tests that compare it with
/// `multiplyByQuantizedMultiplier` on extreme inputs. Call only where the CPU has AVX2.
func requantizeAVX2ForTesting(_ values: [Int32], multipliers: [Int32], shifts: [Int32]) -> [Int32] {
    precondition(values.count % 8 == 0 && multipliers.count == values.count && shifts.count == values.count)
    var result = [Int32](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { x in multipliers.withUnsafeBufferPointer { m in shifts.withUnsafeBufferPointer { s in
        result.withUnsafeMutableBufferPointer { y in
            for start in stride(from: 0, to: values.count, by: 8) {
                let load = { (p: UnsafePointer<Int32>) in UnsafeRawPointer(p).loadUnaligned(as: __m256i.self) }
                let scale = RequantizeAVX2(multiplier: load(m.baseAddress! + start), shift: load(s.baseAddress! + start))
                UnsafeMutableRawPointer(y.baseAddress! + start).storeBytes(of: scale.apply(load(x.baseAddress! + start)), as: __m256i.self)
            }
        }
    } } }
    return result
}
#endif
