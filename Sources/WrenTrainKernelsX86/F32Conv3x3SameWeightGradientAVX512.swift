// The weight gradient of the direct 3x3 convolution, AVX-512 (same module rules as
// F32Conv3x3SameAVX512.swift: nothing here runs unless `wren_cpu_has_avx512vnni()` said so).
#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The weight gradient of a 3x3, stride-1, padding-1 convolution over a chunk of images:
///
///     dWeight[o, c, ky, kx] (+)= Σ_(n,y,x) dOutput[o, n, y, x] · input[c, n, y + ky − 1, x + kx − 1]
///
/// vectorized over 16 output channels, so the sum over positions stays in each lane and nothing
/// is reduced across lanes: each step loads 16 channels of one position's output gradient and
/// multiplies it by broadcast input values, 9 taps × 2 input channels, into 18 accumulators.
/// For that the operands are repacked first (each a pass over memory, against 9·C FMAs per value):
/// the input zero-padded (`padInput`), so that taps on padding read zeros instead of needing
/// masks, and the output gradient in blocks of 16 channels per position (`blockOutputGradient`).
///
/// Every weight-gradient value is one sequence of additions over the chunk's positions in order,
/// whichever member computes it, so the result does not depend on how work is split.
public struct F32Conv3x3SameWeightGradientProblem {
    /// `padInput`'s `[inChannels][images][height + 2][width + 2]`.
    public let paddedInput: UnsafePointer<Float>
    /// `blockOutputGradient`'s `[outChannels / 16][images·height·width][16]`.
    public let blockedOutputGradient: UnsafePointer<Float>
    public let images: Int
    public let inChannels: Int
    /// A multiple of 16.
    public let outChannels: Int
    public let height: Int
    public let width: Int
    /// `[outChannels][inChannels][3][3]`, PyTorch's layout.
    public let weightGradient: UnsafeMutablePointer<Float>
    /// Adds to `weightGradient` (a later chunk) instead of overwriting it.
    public let accumulating: Bool

    public init(paddedInput: UnsafePointer<Float>, blockedOutputGradient: UnsafePointer<Float>, images: Int,
                inChannels: Int, outChannels: Int, height: Int, width: Int,
                weightGradient: UnsafeMutablePointer<Float>, accumulating: Bool) {
        precondition(outChannels % 16 == 0, "the direct 3x3 weight gradient needs a multiple of 16 output channels")
        self.paddedInput = paddedInput
        self.blockedOutputGradient = blockedOutputGradient
        self.images = images
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.height = height
        self.width = width
        self.weightGradient = weightGradient
        self.accumulating = accumulating
    }

    /// Floats of `padInput`'s output for `images` images.
    public static func paddedInputCount(inChannels: Int, images: Int, height: Int, width: Int) -> Int {
        inChannels * images * (height + 2) * (width + 2)
    }
}

/// Copies images `images` (of a `chunkImages`-image chunk starting at batch image `firstImage`)
/// of a CNHW input with channel stride `channelStride` into the zero-padded
/// `[channels][chunkImages][height + 2][width + 2]`.
public func f32Conv3x3SamePadInput(_ input: UnsafePointer<Float>, channelStride: Int, channels: Int, height: Int, width: Int,
                                   firstImage: Int, chunkImages: Int, images: Range<Int>, into padded: UnsafeMutablePointer<Float>) {
    let paddedWidth = width + 2, paddedPlane = (height + 2) * paddedWidth, plane = height * width
    for channel in 0..<channels {
        for image in images {
            let source = input + channel * channelStride + (firstImage + image) * plane
            let target = padded + (channel * chunkImages + image) * paddedPlane
            target.update(repeating: 0, count: paddedWidth)
            for y in 0..<height {
                let row = target + (y + 1) * paddedWidth
                row[0] = 0
                (row + 1).update(from: source + y * width, count: width)
                row[width + 1] = 0
            }
            (target + (height + 1) * paddedWidth).update(repeating: 0, count: paddedWidth)
        }
    }
}

/// Copies images `images` (of a `chunkImages`-image chunk starting at batch image `firstImage`)
/// of a CNHW output gradient into `[channels / 16][chunkImages·plane][16]`.
public func f32Conv3x3SameBlockOutputGradient(_ outputGradient: UnsafePointer<Float>, channelStride: Int, channels: Int, plane: Int,
                                              firstImage: Int, chunkImages: Int, images: Range<Int>,
                                              into blocked: UnsafeMutablePointer<Float>) {
    let positions = images.count * plane
    for block in 0..<channels / 16 {
        let target = blocked + (block * chunkImages * plane + images.lowerBound * plane) * 16
        for lane in 0..<16 {
            let source = outputGradient + (block * 16 + lane) * channelStride + (firstImage + images.lowerBound) * plane
            for position in 0..<positions { target[position * 16 + lane] = source[position] }
        }
    }
}

/// The weight gradient's independent pieces of work: 16 output channels × 2 input channels (1 for
/// an odd last one) each.
public func f32Conv3x3SameWeightGradientItems(outChannels: Int, inChannels: Int) -> Int {
    outChannels / 16 * ((inChannels + 1) / 2)
}

/// Runs work items `items` (of `f32Conv3x3SameWeightGradientItems`) of `problem`.
public func f32Conv3x3SameWeightGradientAVX512(_ problem: F32Conv3x3SameWeightGradientProblem, items: Range<Int>) {
    let channelPairs = (problem.inChannels + 1) / 2
    for item in items {
        weightGradientTile(problem, outBlock: item / channelPairs, firstChannel: item % channelPairs * 2)
    }
}

/// 16 output channels × input channels `firstChannel` and (if there is one) `firstChannel + 1` × 9 taps.
private func weightGradientTile(_ p: F32Conv3x3SameWeightGradientProblem, outBlock: Int, firstChannel: Int) {
    let width = p.width, height = p.height
    let paddedWidth = width + 2, paddedPlane = (height + 2) * paddedWidth, plane = height * width
    let hasSecond = firstChannel + 1 < p.inChannels
    // An odd last channel runs its single channel twice and keeps one result.
    let secondChannel = hasSecond ? firstChannel + 1 : firstChannel

    let zero = _mm512_setzero_ps()
    var a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero, a8 = zero
    var b0 = zero, b1 = zero, b2 = zero, b3 = zero, b4 = zero, b5 = zero, b6 = zero, b7 = zero, b8 = zero

    var gradient = p.blockedOutputGradient + outBlock * p.images * plane * 16
    for image in 0..<p.images {
        let first = p.paddedInput + (firstChannel * p.images + image) * paddedPlane
        let second = p.paddedInput + (secondChannel * p.images + image) * paddedPlane
        for y in 0..<height {
            // Rows y, y + 1, y + 2 of the padded planes are input rows y − 1, y, y + 1.
            let f0 = first + y * paddedWidth, f1 = f0 + paddedWidth, f2 = f1 + paddedWidth
            let s0 = second + y * paddedWidth, s1 = s0 + paddedWidth, s2 = s1 + paddedWidth
            for x in 0..<width {
                let g = _mm512_loadu_ps(gradient)
                gradient += 16
                a0 = _mm512_fmadd_ps(g, _mm512_set1_ps(f0[x]), a0)
                a1 = _mm512_fmadd_ps(g, _mm512_set1_ps(f0[x + 1]), a1)
                a2 = _mm512_fmadd_ps(g, _mm512_set1_ps(f0[x + 2]), a2)
                a3 = _mm512_fmadd_ps(g, _mm512_set1_ps(f1[x]), a3)
                a4 = _mm512_fmadd_ps(g, _mm512_set1_ps(f1[x + 1]), a4)
                a5 = _mm512_fmadd_ps(g, _mm512_set1_ps(f1[x + 2]), a5)
                a6 = _mm512_fmadd_ps(g, _mm512_set1_ps(f2[x]), a6)
                a7 = _mm512_fmadd_ps(g, _mm512_set1_ps(f2[x + 1]), a7)
                a8 = _mm512_fmadd_ps(g, _mm512_set1_ps(f2[x + 2]), a8)
                b0 = _mm512_fmadd_ps(g, _mm512_set1_ps(s0[x]), b0)
                b1 = _mm512_fmadd_ps(g, _mm512_set1_ps(s0[x + 1]), b1)
                b2 = _mm512_fmadd_ps(g, _mm512_set1_ps(s0[x + 2]), b2)
                b3 = _mm512_fmadd_ps(g, _mm512_set1_ps(s1[x]), b3)
                b4 = _mm512_fmadd_ps(g, _mm512_set1_ps(s1[x + 1]), b4)
                b5 = _mm512_fmadd_ps(g, _mm512_set1_ps(s1[x + 2]), b5)
                b6 = _mm512_fmadd_ps(g, _mm512_set1_ps(s2[x]), b6)
                b7 = _mm512_fmadd_ps(g, _mm512_set1_ps(s2[x + 1]), b7)
                b8 = _mm512_fmadd_ps(g, _mm512_set1_ps(s2[x + 2]), b8)
            }
        }
    }

    storeTaps(p, outBlock: outBlock, channel: firstChannel, a0, a1, a2, a3, a4, a5, a6, a7, a8)
    if hasSecond { storeTaps(p, outBlock: outBlock, channel: firstChannel + 1, b0, b1, b2, b3, b4, b5, b6, b7, b8) }
}

/// `dWeight[o, channel, tap] (+)= lane o of tap's sum` for the tile's 16 output channels.
@inline(__always)
private func storeTaps(_ p: F32Conv3x3SameWeightGradientProblem, outBlock: Int, channel: Int,
                       _ t0: __m512, _ t1: __m512, _ t2: __m512, _ t3: __m512, _ t4: __m512,
                       _ t5: __m512, _ t6: __m512, _ t7: __m512, _ t8: __m512) {
    // 576 bytes: small enough that Swift keeps the buffer on the stack (a step allocates nothing).
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 9 * 16) { lanes in
        let t = lanes.baseAddress!
        _mm512_storeu_ps(t, t0); _mm512_storeu_ps(t + 16, t1); _mm512_storeu_ps(t + 32, t2)
        _mm512_storeu_ps(t + 48, t3); _mm512_storeu_ps(t + 64, t4); _mm512_storeu_ps(t + 80, t5)
        _mm512_storeu_ps(t + 96, t6); _mm512_storeu_ps(t + 112, t7); _mm512_storeu_ps(t + 128, t8)
        for lane in 0..<16 {
            let target = p.weightGradient + ((outBlock * 16 + lane) * p.inChannels + channel) * 9
            for tap in 0..<9 {
                let value = t[tap * 16 + lane]
                target[tap] = p.accumulating ? target[tap] + value : value
            }
        }
    }
}
#endif
