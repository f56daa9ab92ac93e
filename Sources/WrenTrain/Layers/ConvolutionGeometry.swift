/// Everything fixed about one convolution layer: channels, kernel, stride, padding, bias, and the
/// input's spatial size (a WRN's is known at setup), with the output size derived once.
/// Weights are `[out, in, k, k]`, PyTorch's layout, which is also the GEMM's `[O, C·k·k]` row-major.
public struct ConvolutionGeometry: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let inChannels: Int
    public let outChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let hasBias: Bool
    public let inputHeight: Int
    public let inputWidth: Int
    public let outputHeight: Int
    public let outputWidth: Int

    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                hasBias: Bool = false, inputHeight: Int, inputWidth: Int) throws(TrainingError) {
        guard inChannels > 0, outChannels > 0, kernelSize > 0, stride > 0, padding >= 0, inputHeight > 0, inputWidth > 0 else {
            throw .invalidConfiguration(
                "convolution \(inChannels)→\(outChannels), kernel \(kernelSize), stride \(stride), padding \(padding) "
                    + "over \(inputHeight)x\(inputWidth): every extent must be positive and the padding not negative")
        }
        // PyTorch's floor rule; the kernel must fit the padded input at least once.
        let paddedHeight = inputHeight + 2 * padding, paddedWidth = inputWidth + 2 * padding
        guard paddedHeight >= kernelSize, paddedWidth >= kernelSize else {
            throw .invalidConfiguration(
                "convolution kernel \(kernelSize) does not fit a \(inputHeight)x\(inputWidth) input padded by \(padding)")
        }
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.hasBias = hasBias
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        outputHeight = (paddedHeight - kernelSize) / stride + 1
        outputWidth = (paddedWidth - kernelSize) / stride + 1
    }

    /// `C·k·k`: the GEMM's reduction length, and the number of im2col rows.
    public var reduction: Int { inChannels * kernelSize * kernelSize }
    public var weightCount: Int { outChannels * reduction }

    /// A 1x1, stride-1, unpadded convolution reads its CNHW input directly as the column matrix.
    public var readsInputAsColumns: Bool { kernelSize == 1 && stride == 1 && padding == 0 }

    public func inputShape(batch: Int) -> CNHWShape {
        CNHWShape(channels: inChannels, batch: batch, height: inputHeight, width: inputWidth)
    }

    public func outputShape(batch: Int) -> CNHWShape {
        CNHWShape(channels: outChannels, batch: batch, height: outputHeight, width: outputWidth)
    }

    /// Floats of im2col scratch the forward and backward passes need at `batch` images
    /// (0 when the input is its own column matrix).
    public func scratchCount(batch: Int) -> Int {
        readsInputAsColumns ? 0 : reduction * batch * outputHeight * outputWidth
    }

    /// The output columns `ox` whose tap `kx` reads a real input column (not padding): `ix = ox·stride − padding + kx`
    /// lies in `0..<inputWidth` exactly for `ox` in this range. The same rule gives the rows for `ky`.
    func validOutputRange(tap: Int, inputExtent: Int, outputExtent: Int) -> Range<Int> {
        // Smallest ox with ox·s ≥ padding − tap, largest with ox·s ≤ inputExtent − 1 + padding − tap.
        let low = max(0, ceilDivide(padding - tap, stride))
        let highInclusive = floorDivide(inputExtent - 1 + padding - tap, stride)
        let high = min(outputExtent, highInclusive + 1)
        let clampedLow = min(low, outputExtent)
        return clampedLow < high ? clampedLow..<high : clampedLow..<clampedLow
    }

    public var description: String {
        "conv \(inChannels)→\(outChannels) k\(kernelSize) s\(stride) p\(padding)\(hasBias ? " +bias" : "") "
            + "over \(inputHeight)x\(inputWidth)→\(outputHeight)x\(outputWidth)"
    }
}

@inline(__always) private func floorDivide(_ a: Int, _ b: Int) -> Int {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

@inline(__always) private func ceilDivide(_ a: Int, _ b: Int) -> Int { -floorDivide(-a, b) }
