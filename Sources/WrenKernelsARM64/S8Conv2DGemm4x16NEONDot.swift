// AArch64 convolution kernels using the Armv8.2 dot-product instructions (`sdot`; Cortex-A55/A76
// and later, Apple M1, Neoverse). This module is compiled with `-march=armv8.2-a+dotprod`, so
// nothing here may run unless the CPU reports the feature: WrenHost checks `HWCAP_ASIMDDP` first.
//
// `sdot` multiplies signed bytes by signed bytes, so the rows hold signed `x` (not `x + 128` as
// for `vpdpbusd`), padding taps hold `zx`, and accumulators start from `bias − zx · Σw`
// (`S8Conv2DTile.signedInputBias`). Products of two int8 values and their sums of four are exact
// in int32, like every other kernel's.
#if arch(arm64)
import WrenCore
import _Builtin_intrinsics.arm.neon

public enum ARM64Kernels {
    /// 4 output pixels × 16 output channels per microkernel step, `sdot` on 128-bit registers.
    public static let neonDot = KernelTable(
        name: "s8-conv2d-gemm-4x16-neondot", pixelsPerTile: rowsPerPass,
        scratchBytes: { rowsPerPass * $0 }, conv2d: s8Conv2DGemm4x16NEONDot)
}

/// Output pixels im2col'd at once; each block's weights are then read once per this many pixels.
let rowsPerPass = 32

/// For up to 32 output pixels: im2col them as signed rows; then for every 16-channel block and
/// every 4 of those pixels accumulate Σ x·w with `sdot` into 16 accumulators, and requantize.
public func s8Conv2DGemm4x16NEONDot(_ tile: S8Conv2DTile) {
    tile.forEachPass(of: rowsPerPass, s8Conv2DGemm4x16NEONDotPass)
}

/// The 4 bytes of one depth group, repeated in every 32-bit lane: the operand `sdot` reads.
@inline(__always)
private func broadcast(_ row: UnsafeRawPointer) -> int8x16_t {
    vreinterpretq_s8_s32(vdupq_n_s32(row.loadUnaligned(as: Int32.self)))
}

/// `signedInputBias − unsignedInputBias` (= 128 · Σw) for channels `channel..<channel+16`: what
/// turns an accumulator of signed products into the one `S8Conv2DTile.store` expects.
@inline(__always)
private func signedBiasCorrection(_ tile: S8Conv2DTile, channel: Int) -> SIMD16<Int32> {
    var correction = SIMD16<Int32>()
    for lane in 0..<min(16, tile.parameters.outChannels &- channel) {
        correction[lane] = tile.signedInputBias[channel &+ lane] &- tile.unsignedInputBias[channel &+ lane]
    }
    return correction
}

@inline(__always)
private func s8Conv2DGemm4x16NEONDotPass(_ tile: S8Conv2DTile) {
    let p = tile.parameters
    let kp = tile.paddedDepth
    let groups = kp / 4
    let blocks = (p.outChannels + 15) / 16
    let rows = tile.scratch.assumingMemoryBound(to: Int8.self)
    let rowCount = (tile.pixelCount + 3) / 4 * 4
    // Signed rows: input bytes as they are, zx outside the image, 0 in the depth padding.
    let zeroPoint = Int8(truncatingIfNeeded: p.inputZeroPoint)
    let image = UnsafeRawPointer(tile.input), rowsStart = UnsafeMutableRawPointer(rows)
    im2colWalk(
        p, firstPixel: tile.firstPixel, pixelCount: tile.pixelCount, rows: rowCount, paddedDepth: kp,
        copy: { from, to, count in (rowsStart + to).copyMemory(from: image + from, byteCount: count) },
        fill: { to, count, isZeroPoint in
            (rowsStart + to).initializeMemory(as: Int8.self, repeating: isZeroPoint ? zeroPoint : 0, count: count)
        })
    let zero = vdupq_n_s32(0)
    for block in 0..<blocks {
        let cells = UnsafeRawPointer(tile.weights + block &* groups &* 64)
        let correction = signedBiasCorrection(tile, channel: block &* 16)
        var start = 0
        while start < tile.pixelCount {
            let count = min(4, tile.pixelCount - start)
            var c00 = zero, c01 = zero, c02 = zero, c03 = zero
            var c10 = zero, c11 = zero, c12 = zero, c13 = zero
            var c20 = zero, c21 = zero, c22 = zero, c23 = zero
            var c30 = zero, c31 = zero, c32 = zero, c33 = zero
            // Row pointer advances by 4 bytes and the weight pointer by 64 per group.
            var r = UnsafeRawPointer(rows + start &* kp)
            var w = cells
            let end = cells + 64 &* groups
            while w < end {
                let b0 = w.loadUnaligned(as: int8x16_t.self), b1 = w.loadUnaligned(fromByteOffset: 16, as: int8x16_t.self)
                let b2 = w.loadUnaligned(fromByteOffset: 32, as: int8x16_t.self), b3 = w.loadUnaligned(fromByteOffset: 48, as: int8x16_t.self)
                var x = broadcast(r)
                c00 = vdotq_s32(c00, b0, x); c01 = vdotq_s32(c01, b1, x); c02 = vdotq_s32(c02, b2, x); c03 = vdotq_s32(c03, b3, x)
                x = broadcast(r + kp)
                c10 = vdotq_s32(c10, b0, x); c11 = vdotq_s32(c11, b1, x); c12 = vdotq_s32(c12, b2, x); c13 = vdotq_s32(c13, b3, x)
                x = broadcast(r + 2 &* kp)
                c20 = vdotq_s32(c20, b0, x); c21 = vdotq_s32(c21, b1, x); c22 = vdotq_s32(c22, b2, x); c23 = vdotq_s32(c23, b3, x)
                x = broadcast(r + 3 &* kp)
                c30 = vdotq_s32(c30, b0, x); c31 = vdotq_s32(c31, b1, x); c32 = vdotq_s32(c32, b2, x); c33 = vdotq_s32(c33, b3, x)
                r += 4
                w += 64
            }
            @inline(__always) func emit(_ row: Int, _ a: int32x4_t, _ b: int32x4_t, _ c: int32x4_t, _ d: int32x4_t) {
                let accumulator = SIMD16<Int32>(
                    lowHalf: SIMD8(lowHalf: a, highHalf: b),
                    highHalf: SIMD8(lowHalf: c, highHalf: d))
                tile.store(pixel: start &+ row, block: block, accumulator: accumulator &+ correction)
            }
            emit(0, c00, c01, c02, c03)
            if count > 1 { emit(1, c10, c11, c12, c13) }
            if count > 2 { emit(2, c20, c21, c22, c23) }
            if count > 3 { emit(3, c30, c31, c32, c33) }
            start += 4
        }
    }
}
#endif
