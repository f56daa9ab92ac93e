// `s8Im2ColU8` (WrenCore) with 64-byte vectors: the same rows, byte for byte.
#if arch(x86_64)
import WrenCore
import _Builtin_intrinsics.intel

/// Copies `count` int8 bytes as `x + 128` (top bit flipped).
@inline(__always)
private func copyFlippingSign(_ source: UnsafeRawPointer, _ destination: UnsafeMutableRawPointer, _ count: Int) {
    let flip = _mm512_set1_epi8(-128)
    var i = 0
    while i &+ 64 <= count {
        _mm512_storeu_si512(destination + i, _mm512_xor_si512(_mm512_loadu_si512(source + i), flip))
        i &+= 64
    }
    if i < count {
        let mask = __mmask64.max >> UInt64(64 &- (count &- i))
        _mm512_mask_storeu_epi8(destination + i, mask, _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, source + i), flip))
    }
}

/// Sets `count` bytes to `value`.
@inline(__always)
private func fill(_ destination: UnsafeMutableRawPointer, _ count: Int, _ value: __m512i) {
    var i = 0
    while i &+ 64 <= count {
        _mm512_storeu_si512(destination + i, value)
        i &+= 64
    }
    if i < count { _mm512_mask_storeu_epi8(destination + i, __mmask64.max >> UInt64(64 &- (count &- i)), value) }
}

/// Gathers `rows` im2col rows of `paddedDepth` bytes (pixels past `pixelCount` hold the input zero
/// point), exactly as `s8Im2ColU8` does, along the same `im2colWalk`.
@inline(__always)
func s8Im2ColU8AVX512(
    _ p: Conv2DParameters, image: UnsafePointer<Int8>, firstPixel: Int, pixelCount: Int, rows: Int,
    paddedDepth: Int, into destination: UnsafeMutablePointer<UInt8>
) {
    let zero = _mm512_set1_epi8(Int8(truncatingIfNeeded: p.inputZeroPoint &+ 128))
    let none = _mm512_setzero_si512()
    let source = UnsafeRawPointer(image), rowsStart = UnsafeMutableRawPointer(destination)
    im2colWalk(
        p, firstPixel: firstPixel, pixelCount: pixelCount, rows: rows, paddedDepth: paddedDepth,
        copy: { from, to, count in copyFlippingSign(source + from, rowsStart + to, count) },
        fill: { to, count, zeroPoint in fill(rowsStart + to, count, zeroPoint ? zero : none) })
}
#endif
