// The float32 training engine's direct 3x3 convolution, AVX-512. This module is compiled for
// x86-64-v4 + AVX-512 VNNI (the same flags as WrenKernelsAVX512VNNI), so nothing here may run unless
// `wren_cpu_has_avx512vnni()` said so: WrenTrain checks before choosing it.
#if arch(x86_64)
import _Builtin_intrinsics.intel

/// One 3x3, stride-1, padding-1 ("same") convolution over CNHW planes, as the direct kernel reads it:
///
///     output[o, n, y, x] (+)= bias[o] + Σ_c Σ_(ky,kx) weight[o, c, ky, kx] · input[c, n, y + ky − 1, x + kx − 1]
///
/// with taps outside the image reading 0. The same kernel computes a convolution's input gradient
/// (its transposed convolution, which for stride 1 and "same" padding is the convolution of the
/// output gradient with the transposed, flipped weights): only the packing of the weights differs.
///
/// It vectorizes over 16 consecutive flat positions of one image (so `height·width` must be a
/// multiple of 16) and blocks 8 output channels × 3 such vectors: 24 accumulators, each input
/// vector read once per 8 FMAs and each weight broadcast once per 3. Instead of an im2col matrix,
/// every tap is a masked load at a fixed flat offset from the output position: the mask zeroes the
/// lanes whose tap falls on padding (which, in the flat order, would read a neighbouring row or
/// image), and masked-off lanes never fault, so the loads may run past either end of the plane.
public struct F32Conv3x3SameProblem {
    /// Channel 0 of image 0; channel `c` of image `n` starts at `c·inputChannelStride + n·height·width`.
    public let input: UnsafePointer<Float>
    public let inputChannelStride: Int
    public let inChannels: Int
    public let output: UnsafeMutablePointer<Float>
    public let outputChannelStride: Int
    /// A multiple of 8.
    public let outChannels: Int
    /// `[outChannels / 8][inChannels][9][8]`: `packWeights` or `packTransposedWeights`.
    public let packedWeights: UnsafePointer<Float>
    public let bias: UnsafePointer<Float>?
    public let height: Int
    public let width: Int
    /// `tapMasks(height:width:)`.
    public let tapMasks: UnsafePointer<UInt16>
    /// Adds to the output instead of overwriting it.
    public let accumulating: Bool

    public init(input: UnsafePointer<Float>, inputChannelStride: Int, inChannels: Int,
                output: UnsafeMutablePointer<Float>, outputChannelStride: Int, outChannels: Int,
                packedWeights: UnsafePointer<Float>, bias: UnsafePointer<Float>?, height: Int, width: Int,
                tapMasks: UnsafePointer<UInt16>, accumulating: Bool) {
        precondition(outChannels % 8 == 0 && (height * width) % 16 == 0,
                     "the direct 3x3 kernel needs a multiple of 8 output channels and of 16 positions per image")
        self.input = input
        self.inputChannelStride = inputChannelStride
        self.inChannels = inChannels
        self.output = output
        self.outputChannelStride = outputChannelStride
        self.outChannels = outChannels
        self.packedWeights = packedWeights
        self.bias = bias
        self.height = height
        self.width = width
        self.tapMasks = tapMasks
        self.accumulating = accumulating
    }
}

/// The direct kernel's requirements beyond the geometry (3x3, stride 1, padding 1).
public func f32Conv3x3SameSupports(outChannels: Int, height: Int, width: Int) -> Bool {
    outChannels % 8 == 0 && (height * width) % 16 == 0
}

/// `[(height·width/16) + 1][9]` lane masks: row `v`, tap `ky·3 + kx` has bit `l` set when position
/// `16v + l` of an image reads a real input value at that tap. The extra last row is all zero: the
/// kernel points unused vectors of a partial tile at it.
public func f32Conv3x3SameTapMasks(height: Int, width: Int) -> [UInt16] {
    let vectors = height * width / 16
    var masks = [UInt16](repeating: 0, count: (vectors + 1) * 9)
    for vector in 0..<vectors {
        for tap in 0..<9 {
            let dy = tap / 3 - 1, dx = tap % 3 - 1
            var mask: UInt16 = 0
            for lane in 0..<16 {
                let position = vector * 16 + lane
                let y = position / width + dy, x = position % width + dx
                if y >= 0 && y < height && x >= 0 && x < width { mask |= 1 << lane }
            }
            masks[vector * 9 + tap] = mask
        }
    }
    return masks
}

/// Packs PyTorch's `[out, in, 3, 3]` weights into the forward kernel's `[out/8][in][9][8]`.
public func f32Conv3x3SamePackWeights(_ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                      into packed: UnsafeMutablePointer<Float>) {
    for block in 0..<outChannels / 8 {
        for c in 0..<inChannels {
            let target = packed + (block * inChannels + c) * 72
            for tap in 0..<9 {
                for lane in 0..<8 { target[tap * 8 + lane] = weight[((block * 8 + lane) * inChannels + c) * 9 + tap] }
            }
        }
    }
}

/// Packs `[out, in, 3, 3]` weights for the input gradient: the kernel's `[in/8][out][9][8]` of the
/// transposed convolution, whose tap `t` is the forward's tap `8 − t` (the kernel flipped).
public func f32Conv3x3SamePackTransposedWeights(_ weight: UnsafePointer<Float>, outChannels: Int, inChannels: Int,
                                                into packed: UnsafeMutablePointer<Float>) {
    for block in 0..<inChannels / 8 {
        for o in 0..<outChannels {
            let target = packed + (block * outChannels + o) * 72
            for tap in 0..<9 {
                for lane in 0..<8 { target[tap * 8 + lane] = weight[(o * inChannels + block * 8 + lane) * 9 + 8 - tap] }
            }
        }
    }
}

/// Runs `problem` for `images` of the batch (each team member takes its own range).
public func f32Conv3x3SameAVX512(_ problem: F32Conv3x3SameProblem, images: Range<Int>) {
    let plane = problem.height * problem.width
    let vectorsPerImage = plane / 16
    let first = images.lowerBound * vectorsPerImage, end = images.upperBound * vectorsPerImage
    // A block of positions whose input (all channels, plus the rows its taps reach) stays in L2
    // while every block of 8 output channels passes over it.
    let blockVectors = max(3, min(96, (96 << 10) / (max(1, problem.inChannels) * 64)) / 3 * 3)
    var blockStart = first
    while blockStart < end {
        let blockEnd = min(blockStart + blockVectors, end)
        for outBlock in 0..<problem.outChannels / 8 {
            var vector = blockStart
            while vector < blockEnd {
                tile8x3(problem, outBlock: outBlock, firstVector: vector, count: min(3, blockEnd - vector),
                        vectorsPerImage: vectorsPerImage)
                vector += 3
            }
        }
        blockStart = blockEnd
    }
}

/// 8 output channels × `count` (1...3) vectors of 16 positions starting at flat vector `firstVector`.
@inline(__always)
private func tile8x3(_ p: F32Conv3x3SameProblem, outBlock: Int, firstVector: Int, count: Int, vectorsPerImage: Int) {
    let width = p.width
    // Each vector's flat position in the batch and its row of tap masks (the zero row when unused).
    let v0 = firstVector, v1 = count > 1 ? firstVector + 1 : firstVector, v2 = count > 2 ? firstVector + 2 : firstVector
    let q0 = v0 * 16, q1 = v1 * 16, q2 = v2 * 16
    let zeroRow = p.tapMasks + vectorsPerImage * 9
    let m0 = p.tapMasks + (v0 % vectorsPerImage) * 9
    let m1 = count > 1 ? p.tapMasks + (v1 % vectorsPerImage) * 9 : zeroRow
    let m2 = count > 2 ? p.tapMasks + (v2 % vectorsPerImage) * 9 : zeroRow

    let zero = _mm512_setzero_ps()
    var a00 = zero, a01 = zero, a02 = zero, a10 = zero, a11 = zero, a12 = zero
    var a20 = zero, a21 = zero, a22 = zero, a30 = zero, a31 = zero, a32 = zero
    var a40 = zero, a41 = zero, a42 = zero, a50 = zero, a51 = zero, a52 = zero
    var a60 = zero, a61 = zero, a62 = zero, a70 = zero, a71 = zero, a72 = zero

    var channelInput = p.input
    var weights = p.packedWeights + outBlock * p.inChannels * 72
    for _ in 0..<p.inChannels {
        for tap in 0..<9 {
            let shift = (tap / 3 - 1) * width + tap % 3 - 1
            let at = channelInput + shift
            let i0 = _mm512_maskz_loadu_ps(m0[tap], at + q0)
            let i1 = _mm512_maskz_loadu_ps(m1[tap], at + q1)
            let i2 = _mm512_maskz_loadu_ps(m2[tap], at + q2)
            let w = weights + tap * 8
            fma3(_mm512_set1_ps(w[0]), i0, i1, i2, &a00, &a01, &a02)
            fma3(_mm512_set1_ps(w[1]), i0, i1, i2, &a10, &a11, &a12)
            fma3(_mm512_set1_ps(w[2]), i0, i1, i2, &a20, &a21, &a22)
            fma3(_mm512_set1_ps(w[3]), i0, i1, i2, &a30, &a31, &a32)
            fma3(_mm512_set1_ps(w[4]), i0, i1, i2, &a40, &a41, &a42)
            fma3(_mm512_set1_ps(w[5]), i0, i1, i2, &a50, &a51, &a52)
            fma3(_mm512_set1_ps(w[6]), i0, i1, i2, &a60, &a61, &a62)
            fma3(_mm512_set1_ps(w[7]), i0, i1, i2, &a70, &a71, &a72)
        }
        channelInput += p.inputChannelStride
        weights += 72
    }

    let firstChannel = outBlock * 8
    store3(p, channel: firstChannel + 0, q0, q1, q2, count, a00, a01, a02)
    store3(p, channel: firstChannel + 1, q0, q1, q2, count, a10, a11, a12)
    store3(p, channel: firstChannel + 2, q0, q1, q2, count, a20, a21, a22)
    store3(p, channel: firstChannel + 3, q0, q1, q2, count, a30, a31, a32)
    store3(p, channel: firstChannel + 4, q0, q1, q2, count, a40, a41, a42)
    store3(p, channel: firstChannel + 5, q0, q1, q2, count, a50, a51, a52)
    store3(p, channel: firstChannel + 6, q0, q1, q2, count, a60, a61, a62)
    store3(p, channel: firstChannel + 7, q0, q1, q2, count, a70, a71, a72)
}

@inline(__always)
private func fma3(_ w: __m512, _ i0: __m512, _ i1: __m512, _ i2: __m512,
                  _ a0: inout __m512, _ a1: inout __m512, _ a2: inout __m512) {
    a0 = _mm512_fmadd_ps(w, i0, a0)
    a1 = _mm512_fmadd_ps(w, i1, a1)
    a2 = _mm512_fmadd_ps(w, i2, a2)
}

@inline(__always)
private func store3(_ p: F32Conv3x3SameProblem, channel: Int, _ q0: Int, _ q1: Int, _ q2: Int, _ count: Int,
                    _ a0: __m512, _ a1: __m512, _ a2: __m512) {
    let row = p.output + channel * p.outputChannelStride
    let bias = p.bias.map { _mm512_set1_ps($0[channel]) }
    store(row + q0, a0, bias, p.accumulating)
    if count > 1 { store(row + q1, a1, bias, p.accumulating) }
    if count > 2 { store(row + q2, a2, bias, p.accumulating) }
}

/// The sum's rounding order, bias last, matches the GEMM path's (`conv`, then `+ bias`); when
/// accumulating, the convolution is added to what the output held, then the bias.
@inline(__always)
private func store(_ target: UnsafeMutablePointer<Float>, _ sum: __m512, _ bias: __m512?, _ accumulating: Bool) {
    var value = sum
    if accumulating { value = _mm512_add_ps(_mm512_loadu_ps(target), value) }
    if let bias { value = _mm512_add_ps(value, bias) }
    _mm512_storeu_ps(target, value)
}
#endif
