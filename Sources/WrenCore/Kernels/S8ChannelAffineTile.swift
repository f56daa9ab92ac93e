/// One unit of `channel_affine_relu` work: `pixels` consecutive NHWC pixels (any images).
public struct S8ChannelAffineTile {
    public var pixels: Int
    public var channels: Int
    public var input: UnsafePointer<Int8>
    public var inputZeroPoint: Int32
    public var offsets: UnsafePointer<Int32>
    public var multipliers: UnsafePointer<Int32>
    public var shifts: UnsafePointer<Int32>
    public var output: UnsafeMutablePointer<Int8>
    public var outputZeroPoint: Int32
    public var relu: Bool
    /// See `s8ChannelAffineReLUReference`.
    public var fractionBits: Int32

    public init(
        pixels: Int, channels: Int, input: UnsafePointer<Int8>, inputZeroPoint: Int32, offsets: UnsafePointer<Int32>,
        multipliers: UnsafePointer<Int32>, shifts: UnsafePointer<Int32>, output: UnsafeMutablePointer<Int8>,
        outputZeroPoint: Int32, relu: Bool, fractionBits: Int32 = 0
    ) {
        self.fractionBits = fractionBits
        self.pixels = pixels
        self.channels = channels
        self.input = input
        self.inputZeroPoint = inputZeroPoint
        self.offsets = offsets
        self.multipliers = multipliers
        self.shifts = shifts
        self.output = output
        self.outputZeroPoint = outputZeroPoint
        self.relu = relu
    }

    /// The scalar reference on channels `first..<channels` of every pixel of this tile (all of them
    /// by default; vector kernels pass the end of their last whole block).
    public func runReference(fromChannel first: Int = 0) {
        guard first < channels else { return }
        s8ChannelAffineReLUReference(
            pixels: pixels, channels: channels - first, pixelStride: channels, input: input + first,
            inputZeroPoint: inputZeroPoint, offsets: offsets + first, multipliers: multipliers + first, shifts: shifts + first,
            output: output + first, outputZeroPoint: outputZeroPoint, relu: relu, fractionBits: fractionBits)
    }
}
