// AVX-512 VNNI convolution kernels. This module is compiled for x86-64-v4 + AVX-512 VNNI (Cascade
// Lake, Ice Lake, Zen 4 and later), so nothing here may run unless `wren_cpu_has_avx512vnni()`
// said so: WrenHost checks before choosing `X86Kernels.avx512vnni`.
#if arch(x86_64)
import WrenCore
import _Builtin_intrinsics.intel

public enum X86Kernels {
    /// 8 output pixels × 32 output channels per microkernel step, `vpdpbusd` on zmm registers.
    public static let avx512vnni = KernelTable(
        name: "s8-conv2d-gemm-8x32-avx512vnni", pixelsPerTile: rowsPerPass,
        scratchBytes: { rowsPerPass * $0 }, conv2d: s8Conv2DGemm8x32AVX512VNNI, channelAffineReLU: s8ChannelAffineReLUAVX512,
        wideConv2D: wideConv2DPortableAVX512)
}

/// WrenCore's portable wide convolution (layers with int16 tensors, formats/wren-v1.md §7.6)
/// compiled for this module's x86-64-v4: the same integer code, so bit-identical.
public func wideConv2DPortableAVX512(_ tile: WideConv2DTile) { wideConv2DPortable(tile) }

/// Stores two blocks of one pixel when either may be partial (the last blocks of a layer whose
/// channel count is not a multiple of 32): the shared scalar-exact path.
private func emitPair(_ tile: S8Conv2DTile, _ pixel: Int, _ block: Int, _ first: __m512i, _ second: __m512i) {
    tile.store(pixel: pixel, block: block, accumulator: unsafeBitCast(first, to: SIMD16<Int32>.self))
    tile.store(pixel: pixel, block: block + 1, accumulator: unsafeBitCast(second, to: SIMD16<Int32>.self))
}

@inline(__always)
private func broadcast(_ rows: UnsafeRawPointer, _ offset: Int) -> __m512i {
    // loadUnaligned folds into vpbroadcastd's memory operand.
    _mm512_set1_epi32(Int32(bitPattern: rows.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
}

/// What the skipped kernel rows (outside `start..<end`) would have added to channels
/// `channel..<channel+16`: the accumulators' starting value.
@inline(__always)
private func skippedRowsBias(_ p: Conv2DParameters, _ rowBias: UnsafePointer<Int32>?, channel: Int, rows: (start: Int, end: Int)) -> __m512i {
    var sum = _mm512_setzero_si512()
    guard let bias = rowBias, rows.0 > 0 || rows.1 < p.kernelSize else { return sum }
    let stride = PackedConvWeights.paddedChannels(p.outChannels)
    for ky in 0..<rows.0 { sum = _mm512_add_epi32(sum, _mm512_loadu_si512(bias + (ky &* stride &+ channel))) }
    for ky in rows.1..<p.kernelSize { sum = _mm512_add_epi32(sum, _mm512_loadu_si512(bias + (ky &* stride &+ channel))) }
    return sum
}

/// Output pixels im2col'd at once: the weights of a pair of channel blocks are read from memory
/// once per this many pixels, then from cache (for WRN-28-10's last group a pair is 184 KB and the
/// 64 rows 368 KB; both stay in L2).
let rowsPerPass = 64

/// For up to 64 output pixels: im2col them as u8 rows; then for every pair of 16-channel blocks
/// and every 8 of those pixels accumulate Σ (x+128)·w with `vpdpbusd` into 16 zmm accumulators,
/// and requantize.
public func s8Conv2DGemm8x32AVX512VNNI(_ tile: S8Conv2DTile) {
    tile.forEachPass(of: rowsPerPass, s8Conv2DGemm8x32AVX512VNNIPass)
}

@inline(__always)
private func s8Conv2DGemm8x32AVX512VNNIPass(_ tile: S8Conv2DTile) {
    let p = tile.parameters
    let kp = tile.paddedDepth
    let groups = kp / 4
    let blocks = (p.outChannels + 15) / 16
    let rows = tile.scratch.assumingMemoryBound(to: UInt8.self)
    let stride = 64 * groups
    let epilogue = EpilogueAVX512(p)
    let kp2 = 2 &* kp, kp3 = 3 &* kp, kp4 = 4 &* kp, kp5 = 5 &* kp, kp6 = 6 &* kp, kp7 = 7 &* kp
    let rowBias = tile.skippableKernelRowBias
    s8Im2ColU8AVX512(p, image: tile.input, firstPixel: tile.firstPixel, pixelCount: tile.pixelCount,
                     rows: (tile.pixelCount + 7) / 8 * 8, paddedDepth: kp, into: rows)
    var block = 0
    while block + 2 <= blocks {
        let w0 = UnsafeRawPointer(tile.weights + block * stride)
        let w1 = w0 + stride
        let channel = block &* 16
        let full = channel + 32 <= p.outChannels
        let bias0 = full ? _mm512_loadu_si512(tile.unsignedInputBias + channel) : _mm512_setzero_si512()
        let bias1 = full ? _mm512_loadu_si512(tile.unsignedInputBias + channel + 16) : _mm512_setzero_si512()
        let scale0 = RequantizeAVX512(
            multiplier: full ? _mm512_loadu_si512(tile.multipliers + channel) : _mm512_setzero_si512(),
            shift: full ? _mm512_loadu_si512(tile.shifts + channel) : _mm512_setzero_si512())
        let scale1 = RequantizeAVX512(
            multiplier: full ? _mm512_loadu_si512(tile.multipliers + channel + 16) : _mm512_setzero_si512(),
            shift: full ? _mm512_loadu_si512(tile.shifts + channel + 16) : _mm512_setzero_si512())
        var start = 0
        while start < tile.pixelCount {
            let count = min(8, tile.pixelCount - start)
            let live = tile.liveKernelRows(pixel: start, count: count)
            let (g0, g1) = tile.depthGroups(of: live)
            let a = UnsafeRawPointer(rows + start &* kp)
            var c00 = skippedRowsBias(p, rowBias, channel: channel, rows: live), c10 = c00, c20 = c00, c30 = c00
            var c40 = c00, c50 = c00, c60 = c00, c70 = c00
            var c01 = skippedRowsBias(p, rowBias, channel: channel &+ 16, rows: live), c11 = c01, c21 = c01, c31 = c01
            var c41 = c01, c51 = c01, c61 = c01, c71 = c01
            // Row pointers advance by 4 bytes and weight pointers by 64 per group: no index
            // arithmetic (and no overflow checks) inside the loop.
            var r0 = a + 4 &* g0, p0 = w0 + 64 &* g0, p1 = w1 + 64 &* g0
            let end = w0 + 64 &* g1
            while p0 < end {
                let b0 = _mm512_loadu_si512(p0)
                let b1 = _mm512_loadu_si512(p1)
                var x = broadcast(r0, 0)
                c00 = _mm512_dpbusd_epi32(c00, x, b0); c01 = _mm512_dpbusd_epi32(c01, x, b1)
                x = broadcast(r0, kp)
                c10 = _mm512_dpbusd_epi32(c10, x, b0); c11 = _mm512_dpbusd_epi32(c11, x, b1)
                x = broadcast(r0, kp2)
                c20 = _mm512_dpbusd_epi32(c20, x, b0); c21 = _mm512_dpbusd_epi32(c21, x, b1)
                x = broadcast(r0, kp3)
                c30 = _mm512_dpbusd_epi32(c30, x, b0); c31 = _mm512_dpbusd_epi32(c31, x, b1)
                x = broadcast(r0, kp4)
                c40 = _mm512_dpbusd_epi32(c40, x, b0); c41 = _mm512_dpbusd_epi32(c41, x, b1)
                x = broadcast(r0, kp5)
                c50 = _mm512_dpbusd_epi32(c50, x, b0); c51 = _mm512_dpbusd_epi32(c51, x, b1)
                x = broadcast(r0, kp6)
                c60 = _mm512_dpbusd_epi32(c60, x, b0); c61 = _mm512_dpbusd_epi32(c61, x, b1)
                x = broadcast(r0, kp7)
                c70 = _mm512_dpbusd_epi32(c70, x, b0); c71 = _mm512_dpbusd_epi32(c71, x, b1)
                r0 += 4
                p0 += 64
                p1 += 64
            }
            // Unrolled, with no closures or arrays (either would allocate on every step).
            if full {
                let base = (tile.firstPixel &+ start) &* p.outChannels &+ channel
                @inline(__always) func pair(_ row: Int, _ x: __m512i, _ y: __m512i) {
                    let at = base &+ row &* p.outChannels
                    epilogue.store(x, bias: bias0, scale: scale0, residual: tile.residual.map { $0 + at }, output: tile.output + at)
                    epilogue.store(y, bias: bias1, scale: scale1, residual: tile.residual.map { $0 + at + 16 }, output: tile.output + at + 16)
                }
                pair(0, c00, c01)
                if count > 1 { pair(1, c10, c11) }
                if count > 2 { pair(2, c20, c21) }
                if count > 3 { pair(3, c30, c31) }
                if count > 4 { pair(4, c40, c41) }
                if count > 5 { pair(5, c50, c51) }
                if count > 6 { pair(6, c60, c61) }
                if count > 7 { pair(7, c70, c71) }
            } else {
                emitPair(tile, start, block, c00, c01)
                if count > 1 { emitPair(tile, start + 1, block, c10, c11) }
                if count > 2 { emitPair(tile, start + 2, block, c20, c21) }
                if count > 3 { emitPair(tile, start + 3, block, c30, c31) }
                if count > 4 { emitPair(tile, start + 4, block, c40, c41) }
                if count > 5 { emitPair(tile, start + 5, block, c50, c51) }
                if count > 6 { emitPair(tile, start + 6, block, c60, c61) }
                if count > 7 { emitPair(tile, start + 7, block, c70, c71) }
            }
            start += 8
        }
        block += 2
    }
    if block < blocks {
        let w0 = UnsafeRawPointer(tile.weights + block * stride)
        let channel = block &* 16
        let full = channel + 16 <= p.outChannels
        let bias0 = full ? _mm512_loadu_si512(tile.unsignedInputBias + channel) : _mm512_setzero_si512()
        let scale0 = RequantizeAVX512(
            multiplier: full ? _mm512_loadu_si512(tile.multipliers + channel) : _mm512_setzero_si512(),
            shift: full ? _mm512_loadu_si512(tile.shifts + channel) : _mm512_setzero_si512())
        var start = 0
        while start < tile.pixelCount {
            let count = min(8, tile.pixelCount - start)
            let live = tile.liveKernelRows(pixel: start, count: count)
            let (g0, g1) = tile.depthGroups(of: live)
            let a = UnsafeRawPointer(rows + start &* kp)
            var c0 = skippedRowsBias(p, rowBias, channel: channel, rows: live), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
            var r0 = a + 4 &* g0, p0 = w0 + 64 &* g0
            let end = w0 + 64 &* g1
            while p0 < end {
                let b0 = _mm512_loadu_si512(p0)
                c0 = _mm512_dpbusd_epi32(c0, broadcast(r0, 0), b0)
                c1 = _mm512_dpbusd_epi32(c1, broadcast(r0, kp), b0)
                c2 = _mm512_dpbusd_epi32(c2, broadcast(r0, kp2), b0)
                c3 = _mm512_dpbusd_epi32(c3, broadcast(r0, kp3), b0)
                c4 = _mm512_dpbusd_epi32(c4, broadcast(r0, kp4), b0)
                c5 = _mm512_dpbusd_epi32(c5, broadcast(r0, kp5), b0)
                c6 = _mm512_dpbusd_epi32(c6, broadcast(r0, kp6), b0)
                c7 = _mm512_dpbusd_epi32(c7, broadcast(r0, kp7), b0)
                r0 += 4
                p0 += 64
            }
            let base = (tile.firstPixel &+ start) &* p.outChannels &+ channel
            let firstRow = start, lastBlock = block
            @inline(__always) func single(_ row: Int, _ x: __m512i) {
                if full {
                    let at = base &+ row &* p.outChannels
                    epilogue.store(x, bias: bias0, scale: scale0, residual: tile.residual.map { $0 + at }, output: tile.output + at)
                } else {
                    tile.store(pixel: firstRow + row, block: lastBlock, accumulator: unsafeBitCast(x, to: SIMD16<Int32>.self))
                }
            }
            single(0, c0)
            if count > 1 { single(1, c1) }
            if count > 2 { single(2, c2) }
            if count > 3 { single(3, c3) }
            if count > 4 { single(4, c4) }
            if count > 5 { single(5, c5) }
            if count > 6 { single(6, c6) }
            if count > 7 { single(7, c7) }
            start += 8
        }
    }
}
#endif
