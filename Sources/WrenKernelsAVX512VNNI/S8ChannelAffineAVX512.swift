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
    let bound = _mm512_set1_epi32(1 << 25)
    let negativeBound = _mm512_set1_epi32(-(1 << 25))
    let fraction = FractionRoundingAVX512(tile.fractionBits)
    // Channel blocks outside, pixels inside: a block's requantization constants are built once.
    var c = 0
    while c < full {
        let scale = RequantizeAVX512(multiplier: _mm512_loadu_si512(tile.multipliers + c), shift: _mm512_loadu_si512(tile.shifts + c))
        let offsets = _mm512_loadu_si512(tile.offsets + c)
        for pixel in 0..<tile.pixels {
            let at = pixel &* channels &+ c
            let values = _mm512_sub_epi32(_mm512_cvtepi8_epi32(UnsafeRawPointer(tile.input + at).loadUnaligned(as: __m128i.self)), zeroPoint)
            // |offset| ≤ 2^24 (validated); clamping the product to ±2^25 first keeps the sum exact
            // where it matters: anything beyond clamps to an int8 bound either way.
            var v = _mm512_min_epi32(_mm512_max_epi32(scale.apply(values), negativeBound), bound)
            v = _mm512_add_epi32(fraction.apply(_mm512_add_epi32(v, offsets)), outputZeroPoint)
            v = _mm512_min_epi32(_mm512_max_epi32(v, low), high)
            UnsafeMutableRawPointer(tile.output + at).storeBytes(of: _mm512_cvtepi32_epi8(v), as: __m128i.self)
        }
        c += 16
    }
    tile.runReference(fromChannel: full)
}
#endif
