// AVX2 convolution kernels, for x86-64 CPUs without AVX-512 VNNI. This module is compiled for
// x86-64-v3 (AVX2, BMI, FMA; no AVX-512), so nothing here may run unless `wren_cpu_has_avx2()`
// said so.
//
// Exactness rules out `vpmaddubsw`: its u8·s8 pair sums saturate at int16 (255·127·2 > 32767).
// Instead im2col widens activations to Int16 and each packed weight cell's 16 bytes of 4 channels
// are sign-extended to Int16 (`vpmovsxbw`); `vpmaddwd` then multiplies and adds pairs into int32
// exactly. A 4-channel register accumulates two partial sums per channel (depths 0+1 and 2+3 of
// every group), which `vphaddd` folds once per output.
#if arch(x86_64)
import WrenCore
import _Builtin_intrinsics.intel

public enum X86AVX2Kernels {
    /// 2 output pixels × 16 output channels per microkernel step, `vpmaddwd` on ymm registers.
    public static let avx2 = KernelTable(
        name: "s8-conv2d-gemm-2x16-avx2", pixelsPerTile: rowsPerPass,
        scratchBytes: { rowsPerPass * 2 * $0 }, conv2d: s8Conv2DGemm2x16AVX2, channelAffineReLU: s8ChannelAffineReLUAVX2,
        wideConv2D: wideConv2DPortableAVX2)
}

/// WrenCore's portable wide convolution (§7.6) compiled for this module's x86-64-v3.
public func wideConv2DPortableAVX2(_ tile: WideConv2DTile) { wideConv2DPortable(tile) }

/// Output pixels im2col'd at once; each block's weights are then read once per this many pixels.
let rowsPerPass = 64

@inline(__always)
private func load(_ pointer: UnsafeRawPointer) -> __m256i { pointer.loadUnaligned(as: __m256i.self) }

@inline(__always)
private func load<T>(_ pointer: UnsafePointer<T>) -> __m256i { UnsafeRawPointer(pointer).loadUnaligned(as: __m256i.self) }

/// The 4 Int16 activations of one depth group, repeated in every 64-bit lane.
@inline(__always)
private func broadcast(_ row: UnsafeRawPointer) -> __m256i {
    _mm256_set1_epi64x(row.loadUnaligned(as: Int64.self))
}

/// The 4 channels × 4 depth bytes at `cell`, sign-extended to Int16.
@inline(__always)
private func widenWeights(_ cell: UnsafeRawPointer) -> __m256i {
    _mm256_cvtepi8_epi16(cell.loadUnaligned(as: __m128i.self))
}

/// Channels 0–7 (or 8–15) of a pixel from the two 4-channel registers holding them as partial-sum pairs.
@inline(__always)
private func fold(_ first: __m256i, _ second: __m256i) -> __m256i {
    // vphaddd works within 128-bit halves: channels 0, 1, 4, 5 | 2, 3, 6, 7 before the permutation.
    _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(first, second), _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7))
}

/// What the skipped kernel rows (outside `rows`) add to channels `channel..<channel+8`.
@inline(__always)
private func skippedRowsBias(_ tile: S8Conv2DTile, _ rowBias: UnsafePointer<Int32>?, channel: Int, rows: (start: Int, end: Int)) -> __m256i {
    let p = tile.parameters
    var sum = _mm256_setzero_si256()
    guard let bias = rowBias, rows.start > 0 || rows.end < p.kernelSize else { return sum }
    let stride = PackedConvWeights.paddedChannels(p.outChannels)
    for ky in 0..<rows.start { sum = _mm256_add_epi32(sum, load(bias + (ky &* stride &+ channel))) }
    for ky in rows.end..<p.kernelSize { sum = _mm256_add_epi32(sum, load(bias + (ky &* stride &+ channel))) }
    return sum
}

/// For up to 64 output pixels: im2col them as Int16 rows; then for every 16-channel block and
/// every 2 of those pixels accumulate Σ (x+128)·w with `vpmaddwd` into 8 ymm accumulators, and
/// requantize.
public func s8Conv2DGemm2x16AVX2(_ tile: S8Conv2DTile) {
    tile.forEachPass(of: rowsPerPass, s8Conv2DGemm2x16AVX2Pass)
}

@inline(__always)
private func s8Conv2DGemm2x16AVX2Pass(_ tile: S8Conv2DTile) {
    let p = tile.parameters
    let kp = tile.paddedDepth
    let groups = kp / 4
    let blocks = (p.outChannels + 15) / 16
    let rows = tile.scratch.assumingMemoryBound(to: Int16.self)
    let rowBytes = 2 &* kp
    let stride = 64 * groups
    let epilogue = EpilogueAVX2(p)
    let rowBias = tile.skippableKernelRowBias
    s8Im2ColI16AVX2(p, image: tile.input, firstPixel: tile.firstPixel, pixelCount: tile.pixelCount,
                    rows: (tile.pixelCount + 1) / 2 * 2, paddedDepth: kp, into: rows)
    for block in 0..<blocks {
        let weights = UnsafeRawPointer(tile.weights + block &* stride)
        let channel = block &* 16
        let full = channel + 16 <= p.outChannels
        let zero = _mm256_setzero_si256()
        let bias0 = full ? load(tile.unsignedInputBias + channel) : zero
        let bias1 = full ? load(tile.unsignedInputBias + channel + 8) : zero
        let scale0 = RequantizeAVX2(
            multiplier: full ? load(tile.multipliers + channel) : zero, shift: full ? load(tile.shifts + channel) : zero)
        let scale1 = RequantizeAVX2(
            multiplier: full ? load(tile.multipliers + channel + 8) : zero, shift: full ? load(tile.shifts + channel + 8) : zero)
        var start = 0
        while start < tile.pixelCount {
            let count = min(2, tile.pixelCount - start)
            let live = tile.liveKernelRows(pixel: start, count: count)
            let (g0, g1) = tile.depthGroups(of: live)
            var c00 = zero, c01 = zero, c02 = zero, c03 = zero
            var c10 = zero, c11 = zero, c12 = zero, c13 = zero
            // Row pointers advance by 8 bytes (4 Int16) and the weight pointer by 64 per group.
            var r0 = UnsafeRawPointer(rows + start &* kp) + 8 &* g0
            var w = weights + 64 &* g0
            let end = weights + 64 &* g1
            while w < end {
                let x0 = broadcast(r0), x1 = broadcast(r0 + rowBytes)
                var b = widenWeights(w)
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(b, x0)); c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(b, x1))
                b = widenWeights(w + 16)
                c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(b, x0)); c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(b, x1))
                b = widenWeights(w + 32)
                c02 = _mm256_add_epi32(c02, _mm256_madd_epi16(b, x0)); c12 = _mm256_add_epi32(c12, _mm256_madd_epi16(b, x1))
                b = widenWeights(w + 48)
                c03 = _mm256_add_epi32(c03, _mm256_madd_epi16(b, x0)); c13 = _mm256_add_epi32(c13, _mm256_madd_epi16(b, x1))
                r0 += 8
                w += 64
            }
            let skipped0 = skippedRowsBias(tile, rowBias, channel: channel, rows: live)
            let skipped1 = skippedRowsBias(tile, rowBias, channel: channel &+ 8, rows: live)
            @inline(__always) func emit(_ row: Int, _ a: __m256i, _ b: __m256i, _ c: __m256i, _ d: __m256i) {
                let low = _mm256_add_epi32(fold(a, b), skipped0), high = _mm256_add_epi32(fold(c, d), skipped1)
                if full {
                    let at = (tile.firstPixel &+ start &+ row) &* p.outChannels &+ channel
                    let lowValues = epilogue.values(low, bias: bias0, scale: scale0, residual: tile.residual.map { $0 + at })
                    let highValues = epilogue.values(high, bias: bias1, scale: scale1, residual: tile.residual.map { $0 + at + 8 })
                    storeBytes(lowValues, highValues, to: tile.output + at)
                } else {
                    let accumulator = SIMD16<Int32>(
                        lowHalf: unsafeBitCast(low, to: SIMD8<Int32>.self), highHalf: unsafeBitCast(high, to: SIMD8<Int32>.self))
                    tile.store(pixel: start &+ row, block: block, accumulator: accumulator)
                }
            }
            emit(0, c00, c01, c02, c03)
            if count > 1 { emit(1, c10, c11, c12, c13) }
            start += 2
        }
    }
}
#endif
