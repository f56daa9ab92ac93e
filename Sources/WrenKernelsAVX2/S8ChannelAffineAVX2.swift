#if arch(x86_64)
import WrenCore
import _Builtin_intrinsics.intel

/// `channel_affine_relu` 8 channels at a time with the AVX2 requantization; channel counts that
/// are not a multiple of 8 finish each pixel with the scalar reference.
public func s8ChannelAffineReLUAVX2(_ tile: S8ChannelAffineTile) {
    let channels = tile.channels
    let full = channels / 8 * 8
    let zeroPoint = _mm256_set1_epi32(tile.inputZeroPoint)
    let outputZeroPoint = _mm256_set1_epi32(tile.outputZeroPoint)
    let low = _mm256_set1_epi32(tile.relu ? max(tile.outputZeroPoint, -128) : -128)
    let high = _mm256_set1_epi32(127)
    // |offset| ≤ 2^24 (validated); clamping the product to ±2^25 first keeps the sum exact where
    // it matters: anything beyond clamps to an int8 bound either way.
    let bound = _mm256_set1_epi32(1 << 25)
    let negativeBound = _mm256_set1_epi32(-(1 << 25))
    let fraction = FractionRoundingAVX2(tile.fractionBits)
    // Channel groups outside, pixels inside: a group's requantization constants are built once.
    var c = 0
    while c < full {
        let scale = RequantizeAVX2(
            multiplier: UnsafeRawPointer(tile.multipliers + c).loadUnaligned(as: __m256i.self),
            shift: UnsafeRawPointer(tile.shifts + c).loadUnaligned(as: __m256i.self))
        let offsets = UnsafeRawPointer(tile.offsets + c).loadUnaligned(as: __m256i.self)
        for pixel in 0..<tile.pixels {
            let at = pixel &* channels &+ c
            let bytes = _mm_cvtsi64_si128(Int64(bitPattern: UnsafeRawPointer(tile.input + at).loadUnaligned(as: UInt64.self)))
            let values = _mm256_sub_epi32(_mm256_cvtepi8_epi32(bytes), zeroPoint)
            let v = _mm256_min_epi32(_mm256_max_epi32(scale.apply(values), negativeBound), bound)
            let shifted = _mm256_add_epi32(fraction.apply(_mm256_add_epi32(v, offsets)), outputZeroPoint)
            storeBytes(_mm256_min_epi32(_mm256_max_epi32(shifted, low), high), to: tile.output + at)
        }
        c += 8
    }
    tile.runReference(fromChannel: full)
}
#endif
