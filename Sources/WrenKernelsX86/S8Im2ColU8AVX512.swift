// `s8Im2ColU8` (WrenCore) with 64-byte vectors: the same rows, byte for byte. The kx taps of one
// kernel row are adjacent pixels of one input row, so an interior kernel row is a single run of
// kernelSize·C bytes; only border taps are handled one by one.
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
/// point), exactly as `s8Im2ColU8` does.
@inline(__always)
func s8Im2ColU8AVX512(
    _ p: Conv2DParameters, image: UnsafePointer<Int8>, firstPixel: Int, pixelCount: Int, rows: Int,
    paddedDepth: Int, into destination: UnsafeMutablePointer<UInt8>
) {
    let zero = _mm512_set1_epi8(Int8(truncatingIfNeeded: p.inputZeroPoint &+ 128))
    let none = _mm512_setzero_si512()
    let channels = p.inChannels, size = p.kernelSize
    let run = size &* channels
    let depth = p.depth
    let source = UnsafeRawPointer(image)
    var oy = firstPixel / p.outWidth
    var ox = firstPixel &- oy &* p.outWidth
    for row in 0..<rows {
        let out = UnsafeMutableRawPointer(destination + row &* paddedDepth)
        if depth < paddedDepth { fill(out + depth, paddedDepth &- depth, none) }
        guard row < pixelCount else {
            fill(out, depth, zero)
            continue
        }
        let ix0 = ox &* p.stride &- p.padding
        let interior = ix0 >= 0 && ix0 &+ size <= p.inWidth
        var k = 0
        for ky in 0..<size {
            let iy = oy &* p.stride &+ ky &- p.padding
            if iy < 0 || iy >= p.inHeight {
                fill(out + k, run, zero)
            } else if interior {
                copyFlippingSign(source + (iy &* p.inWidth &+ ix0) &* channels, out + k, run)
            } else {
                for kx in 0..<size {
                    let ix = ix0 &+ kx
                    if ix >= 0 && ix < p.inWidth {
                        copyFlippingSign(source + (iy &* p.inWidth &+ ix) &* channels, out + (k &+ kx &* channels), channels)
                    } else {
                        fill(out + (k &+ kx &* channels), channels, zero)
                    }
                }
            }
            k &+= run
        }
        ox &+= 1
        if ox == p.outWidth {
            ox = 0
            oy &+= 1
        }
    }
}
#endif
