// `s8Im2ColU8` (WrenCore) widened to 16 bits: the same values `x + 128` (and the same zero-point
// fill and zero depth padding), one Int16 per tap, the operand `vpmaddwd` reads. Widening once
// here keeps the microkernel's inner loop to one broadcast per pixel and depth group.
#if arch(x86_64)
import WrenCore
import _Builtin_intrinsics.intel

/// Writes `count` int8 values as Int16 `x + 128`.
@inline(__always)
private func copyWidening(_ source: UnsafePointer<Int8>, _ destination: UnsafeMutablePointer<Int16>, _ count: Int) {
    let offset = _mm256_set1_epi16(128)
    var i = 0
    while i &+ 16 <= count {
        let bytes = UnsafeRawPointer(source + i).loadUnaligned(as: __m128i.self)
        UnsafeMutableRawPointer(destination + i).storeBytes(of: _mm256_add_epi16(_mm256_cvtepi8_epi16(bytes), offset), as: __m256i.self)
        i &+= 16
    }
    while i < count {
        destination[i] = Int16(source[i]) &+ 128
        i &+= 1
    }
}

/// Sets `count` Int16 values to `value`.
@inline(__always)
private func fill(_ destination: UnsafeMutablePointer<Int16>, _ count: Int, _ value: Int16) {
    let vector = _mm256_set1_epi16(value)
    var i = 0
    while i &+ 16 <= count {
        UnsafeMutableRawPointer(destination + i).storeBytes(of: vector, as: __m256i.self)
        i &+= 16
    }
    while i < count {
        destination[i] = value
        i &+= 1
    }
}

/// Gathers `rows` im2col rows of `paddedDepth` Int16 values (pixels past `pixelCount` hold the
/// input zero point + 128): `s8Im2ColU8`'s rows widened, along the same `im2colWalk`.
@inline(__always)
func s8Im2ColI16AVX2(
    _ p: Conv2DParameters, image: UnsafePointer<Int8>, firstPixel: Int, pixelCount: Int, rows: Int,
    paddedDepth: Int, into destination: UnsafeMutablePointer<Int16>
) {
    let zero = Int16(truncatingIfNeeded: p.inputZeroPoint &+ 128)
    im2colWalk(
        p, firstPixel: firstPixel, pixelCount: pixelCount, rows: rows, paddedDepth: paddedDepth,
        copy: { from, to, count in copyWidening(image + from, destination + to, count) },
        fill: { to, count, zeroPoint in fill(destination + to, count, zeroPoint ? zero : 0) })
}
#endif
