import CWrenCPU
#if arch(x86_64)
import WrenTrainKernelsX86
#endif

/// The direct kernel (WrenTrainKernelsX86) for a layer's 3x3, stride-1, padding-1 convolutions,
/// which are nearly all of a WRN's arithmetic: forward and input gradient read the activations in
/// place through masked loads, with no im2col matrix, no col2im and no GEMM packing of them. The
/// weight gradient runs over chunks of images whose input is copied zero-padded and whose output
/// gradient is regrouped 16 channels per position, split among the members by output and input
/// channels, so its sums do not depend on the thread count either.
///
/// Used when the CPU has AVX-512 (checked once) and the layer fits the kernel: 3x3, stride 1,
/// padding 1, a multiple of 16 positions per image, and a multiple of 8 output channels (for the
/// forward), of 8 input channels (for the input gradient; the stem's 3 have none to compute) and
/// of 16 output channels (for the weight gradient).
/// The packed weights are rebuilt from the layer's weights at every call, since the optimizer
/// changes them between steps; that costs one pass over the weights, against ~N·H·W FMAs per weight.
final class DirectConvolution {
    let geometry: ConvolutionGeometry
    private let tapMasks: [UInt16]
    /// `[out/8][in][9][8]`.
    private let packedWeights: TrainingBuffer
    /// `[in/8][out][9][8]`, the transposed and flipped kernel; nil when `in` is not a multiple of 8.
    private let packedTransposedWeights: TrainingBuffer?

    /// Whether this CPU runs the kernel: x86-64-v4 + AVX-512 VNNI, what the kernel module is compiled for.
    static let cpuSupportsKernel: Bool = {
        #if arch(x86_64)
        return wren_cpu_has_avx512vnni() != 0
        #else
        return false
        #endif
    }()

    /// Nil when the kernel does not apply to `geometry` or this CPU.
    init?(_ geometry: ConvolutionGeometry) {
        #if arch(x86_64)
        guard Self.cpuSupportsKernel, geometry.kernelSize == 3, geometry.stride == 1, geometry.padding == 1,
              f32Conv3x3SameSupports(outChannels: geometry.outChannels, height: geometry.inputHeight, width: geometry.inputWidth)
        else { return nil }
        self.geometry = geometry
        tapMasks = f32Conv3x3SameTapMasks(height: geometry.inputHeight, width: geometry.inputWidth)
        packedWeights = TrainingBuffer(count: geometry.weightCount)
        packedTransposedWeights = geometry.inChannels % 8 == 0 ? TrainingBuffer(count: geometry.weightCount) : nil
        #else
        return nil
        #endif
    }

    /// Whether `inputGradient` can run (the input channels are a multiple of 8).
    var computesInputGradient: Bool { packedTransposedWeights != nil }

    /// Whether `weightGradient` can run (the output channels are a multiple of 16).
    var computesWeightGradient: Bool { geometry.outChannels % 16 == 0 }

    /// The weight gradient's scratch budget: a chunk's padded input and regrouped output gradient,
    /// ~8 MB, which stays in a server's last-level cache while every work item reads the chunk.
    static let weightGradientChunkFloats = 2 << 20

    /// Scratch floats one image of the weight gradient's chunk takes.
    private var weightGradientImageFloats: Int {
        let g = geometry
        return g.inChannels * (g.inputHeight + 2) * (g.inputWidth + 2) + g.outChannels * g.inputHeight * g.inputWidth
    }

    /// Images per weight-gradient chunk at `maxBatch`: fixed by the geometry alone, never by the
    /// team, so the sums' order is the same for every thread count.
    func weightGradientChunkImages(maxBatch: Int) -> Int {
        min(maxBatch, max(1, Self.weightGradientChunkFloats / weightGradientImageFloats))
    }

    /// Scratch floats `prepareWeightGradient` and `weightGradient` need (0 when it does not run).
    func weightGradientScratchCount(maxBatch: Int) -> Int {
        computesWeightGradient ? weightGradientChunkImages(maxBatch: maxBatch) * weightGradientImageFloats : 0
    }

    /// Work items of one chunk's `weightGradient`, to share among the members.
    var weightGradientItems: Int {
        #if arch(x86_64)
        return f32Conv3x3SameWeightGradientItems(outChannels: geometry.outChannels, inChannels: geometry.inChannels)
        #else
        return 0
        #endif
    }

    /// Copies `images` (a member's share of `chunk`) of the input, padded, and of the output
    /// gradient, regrouped, into `scratch` for `weightGradient`.
    func prepareWeightGradient(input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>, batch: Int, chunk: Range<Int>,
                               images: Range<Int>, maxBatch: Int, scratch: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        let g = geometry, plane = g.inputHeight * g.inputWidth
        let blocked = scratch + paddedInputCount(maxBatch: maxBatch)
        f32Conv3x3SamePadInput(input, channelStride: batch * plane, channels: g.inChannels, height: g.inputHeight, width: g.inputWidth,
                               firstImage: chunk.lowerBound, chunkImages: chunk.count, images: images, into: scratch)
        f32Conv3x3SameBlockOutputGradient(outputGradient, channelStride: batch * plane, channels: g.outChannels, plane: plane,
                                          firstImage: chunk.lowerBound, chunkImages: chunk.count, images: images, into: blocked)
        #endif
    }

    /// `weightGradient (+)=` the chunk's share of the weight gradient, for work `items`.
    func weightGradient(chunkImages: Int, maxBatch: Int, scratch: UnsafeMutablePointer<Float>,
                        into weightGradient: UnsafeMutablePointer<Float>, accumulating: Bool, items: Range<Int>) {
        #if arch(x86_64)
        let g = geometry
        f32Conv3x3SameWeightGradientAVX512(
            F32Conv3x3SameWeightGradientProblem(
                paddedInput: scratch, blockedOutputGradient: scratch + paddedInputCount(maxBatch: maxBatch), images: chunkImages,
                inChannels: g.inChannels, outChannels: g.outChannels, height: g.inputHeight, width: g.inputWidth,
                weightGradient: weightGradient, accumulating: accumulating),
            items: items)
        #endif
    }

    /// Where the regrouped output gradient starts in the scratch: after a full chunk's padded input.
    private func paddedInputCount(maxBatch: Int) -> Int {
        let g = geometry
        return g.inChannels * weightGradientChunkImages(maxBatch: maxBatch) * (g.inputHeight + 2) * (g.inputWidth + 2)
    }

    /// Packs `weight` for `forward`; called once per forward call, before the members run.
    func packForward(_ weight: UnsafePointer<Float>) {
        #if arch(x86_64)
        f32Conv3x3SamePackWeights(weight, outChannels: geometry.outChannels, inChannels: geometry.inChannels,
                                  into: packedWeights.values.baseAddress!)
        #endif
    }

    /// Packs `weight` for `inputGradient`; called once per backward call, before the members run.
    func packBackward(_ weight: UnsafePointer<Float>) {
        #if arch(x86_64)
        f32Conv3x3SamePackTransposedWeights(weight, outChannels: geometry.outChannels, inChannels: geometry.inChannels,
                                            into: packedTransposedWeights!.values.baseAddress!)
        #endif
    }

    /// `output (+)= conv(input) + bias` for `images` of a `batch`-image CNHW batch.
    func forward(input: UnsafePointer<Float>, batch: Int, output: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
                 accumulating: Bool, images: Range<Int>) {
        #if arch(x86_64)
        let g = geometry, plane = g.inputHeight * g.inputWidth
        tapMasks.withUnsafeBufferPointer { masks in
            f32Conv3x3SameAVX512(
                F32Conv3x3SameProblem(
                    input: input, inputChannelStride: batch * plane, inChannels: g.inChannels,
                    output: output, outputChannelStride: batch * plane, outChannels: g.outChannels,
                    packedWeights: UnsafePointer(packedWeights.values.baseAddress!), bias: bias,
                    height: g.inputHeight, width: g.inputWidth, tapMasks: masks.baseAddress!, accumulating: accumulating),
                images: images)
        }
        #endif
    }

    /// `inputGradient (+)= convᵀ(outputGradient)` for `images`: the transposed convolution, which for
    /// stride 1 and "same" padding is a "same" convolution with the transposed, flipped kernel.
    func inputGradient(outputGradient: UnsafePointer<Float>, batch: Int, inputGradient: UnsafeMutablePointer<Float>,
                       accumulating: Bool, images: Range<Int>) {
        #if arch(x86_64)
        let g = geometry, plane = g.inputHeight * g.inputWidth
        tapMasks.withUnsafeBufferPointer { masks in
            f32Conv3x3SameAVX512(
                F32Conv3x3SameProblem(
                    input: outputGradient, inputChannelStride: batch * plane, inChannels: g.outChannels,
                    output: inputGradient, outputChannelStride: batch * plane, outChannels: g.inChannels,
                    packedWeights: UnsafePointer(packedTransposedWeights!.values.baseAddress!), bias: nil,
                    height: g.inputHeight, width: g.inputWidth, tapMasks: masks.baseAddress!, accumulating: accumulating),
                images: images)
        }
        #endif
    }
}
