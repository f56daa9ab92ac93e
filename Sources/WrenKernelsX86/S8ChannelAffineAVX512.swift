#if arch(x86_64)
import WrenCore
import _Builtin_intrinsics.intel

/// `channel_affine_relu` 16 channels at a time with the AVX-512 requantization; channel counts
/// that are not a multiple of 16 finish each pixel with the scalar reference.
public func s8ChannelAffineReLUAVX512(_ tile: S8ChannelAffineTile) {
    let channels = tile.channels
    let full = channels / 16 * 16
    let zeroPoint = _mm512_set1_epi32(tile.inputZeroPoint)
    let outputZeroPoint = _mm512_set1_epi32(tile.outputZeroPoint)
    let low = _mm512_set1_epi32(tile.relu ? max(tile.outputZeroPoint, -128) : -128)
    let high = _mm512_set1_epi32(127)
    let bound = _mm512_set1_epi32(1 << 24)
    for pixel in 0..<tile.pixels {
        let x = tile.input + pixel * channels
        let y = tile.output + pixel * channels
        var c = 0
        while c < full {
            let values = _mm512_sub_epi32(_mm512_cvtepi8_epi32(UnsafeRawPointer(x + c).loadUnaligned(as: __m128i.self)), zeroPoint)
            var v = RequantizeAVX512(multiplier: _mm512_loadu_si512(tile.multipliers + c), shift: _mm512_loadu_si512(tile.shifts + c))
                .apply(values)
            // |offset| ≤ 2^24 (validated); clamping the product to ±2^25 first keeps the sum exact
            // where it matters: anything beyond clamps to an int8 bound either way.
            v = _mm512_min_epi32(_mm512_max_epi32(v, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_add_epi32(bound, bound))), _mm512_add_epi32(bound, bound))
            v = _mm512_add_epi32(_mm512_add_epi32(v, _mm512_loadu_si512(tile.offsets + c)), outputZeroPoint)
            v = _mm512_min_epi32(_mm512_max_epi32(v, low), high)
            UnsafeMutableRawPointer(y + c).storeBytes(of: _mm512_cvtepi32_epi8(v), as: __m128i.self)
            c += 16
        }
        if full < channels {
            s8ChannelAffineReLUReference(
                pixels: 1, channels: channels - full, input: x + full, inputZeroPoint: tile.inputZeroPoint,
                offsets: tile.offsets + full, multipliers: tile.multipliers + full, shifts: tile.shifts + full,
                output: y + full, outputZeroPoint: tile.outputZeroPoint, relu: tile.relu)
        }
    }
}
#endif
