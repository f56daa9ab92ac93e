/// Everything an int8 convolution kernel needs, resolved at plan time from a validated layer.
/// Tensors are NHWC int8; weights are [O][kh][kw][I] int8 (symmetric, per output channel).
public struct Conv2DParameters: Sendable {
    public var inChannels: Int
    public var inHeight: Int
    public var inWidth: Int
    public var outChannels: Int
    public var outHeight: Int
    public var outWidth: Int
    public var kernelSize: Int
    public var stride: Int
    public var padding: Int
    public var inputZeroPoint: Int32
    public var outputZeroPoint: Int32
    public var relu: Bool
    public var residualZeroPoint: Int32
    public var residualMultiplier: QuantizedMultiplier
    /// Bits below the output's unit that the requantized sum carries before its one rounding
    /// (`ModelDescription.fractionBits(of:)`); 0 rounds each term on its own (rule 1).
    public var fractionBits: Int32

    public init(
        inChannels: Int, inHeight: Int, inWidth: Int, outChannels: Int, outHeight: Int, outWidth: Int,
        kernelSize: Int, stride: Int, padding: Int, inputZeroPoint: Int32, outputZeroPoint: Int32, relu: Bool,
        residualZeroPoint: Int32 = 0, residualMultiplier: QuantizedMultiplier = QuantizedMultiplier(multiplier: 0, rightShift: 0),
        fractionBits: Int32 = 0
    ) {
        self.fractionBits = fractionBits
        self.inChannels = inChannels
        self.inHeight = inHeight
        self.inWidth = inWidth
        self.outChannels = outChannels
        self.outHeight = outHeight
        self.outWidth = outWidth
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.inputZeroPoint = inputZeroPoint
        self.outputZeroPoint = outputZeroPoint
        self.relu = relu
        self.residualZeroPoint = residualZeroPoint
        self.residualMultiplier = residualMultiplier
    }

    /// Multiply-accumulates per output pixel and channel.
    public var depth: Int { kernelSize * kernelSize * inChannels }
}

extension Conv2DParameters {
    /// Output pixel `pixel`'s receptive field in the packed weights' depth order `(ky, kx, i)`:
    /// `body(k, index)` for every depth index `k`, with the NHWC input element it reads, or nil on
    /// a padding tap. The scalar references' im2col (one definition for the int8 and wide ones).
    @inlinable
    public func forEachTap(ofPixel pixel: Int, _ body: (_ k: Int, _ inputIndex: Int?) -> Void) {
        let oy = pixel / outWidth, ox = pixel % outWidth
        var k = 0
        for ky in 0..<kernelSize {
            let iy = oy * stride + ky - padding
            for kx in 0..<kernelSize {
                let ix = ox * stride + kx - padding
                let inside = iy >= 0 && iy < inHeight && ix >= 0 && ix < inWidth
                for i in 0..<inChannels { body(k + i, inside ? (iy * inWidth + ix) * inChannels + i : nil) }
                k += inChannels
            }
        }
    }
}
