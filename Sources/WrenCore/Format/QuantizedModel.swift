/// A quantized network ready to be written: `ModelWriter`'s input, `ModelDescription` in spirit
/// (with the blobs' bytes instead of their ranges in a file).
public struct QuantizedModel: Sendable {
    public var input: InputInfo
    public var numClasses: Int
    public var metadata: [(key: String, value: String)]
    public var tensors: [TensorInfo]
    public var layers: [QuantizedLayer]
    /// `WrenFormat.roundingRule*`: how the kernels round the sums this file's multipliers describe.
    public var roundingRule: UInt32

    public init(
        input: InputInfo, numClasses: Int, metadata: [(key: String, value: String)], tensors: [TensorInfo],
        layers: [QuantizedLayer], roundingRule: UInt32
    ) {
        self.input = input
        self.numClasses = numClasses
        self.metadata = metadata
        self.tensors = tensors
        self.layers = layers
        self.roundingRule = roundingRule
    }
}

/// One layer with its constant data as little-endian bytes, in the blob slots of `formats/wren-v1.md`.
public struct QuantizedLayer: Sendable {
    public var name: String
    public var op: LayerOp
    public var input: Int
    public var output: Int?
    public var residual: Int?
    public var kernelSize: Int
    public var stride: Int
    public var padding: Int
    public var relu: Bool
    public var residualMultiplier: QuantizedMultiplier
    public var outChannels: Int
    /// Slots 0...4: conv2d → weights, bias, multipliers, shifts, —; channelAffineReLU → —, offsets,
    /// multipliers, shifts, —; averagePoolLinear → weights, bias, —, —, —.
    public var blobs: [[UInt8]]

    public init(
        name: String, op: LayerOp, input: Int, output: Int?, residual: Int?, kernelSize: Int, stride: Int, padding: Int,
        relu: Bool, residualMultiplier: QuantizedMultiplier, outChannels: Int, blobs: [[UInt8]]
    ) {
        self.name = name
        self.op = op
        self.input = input
        self.output = output
        self.residual = residual
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.relu = relu
        self.residualMultiplier = residualMultiplier
        self.outChannels = outChannels
        self.blobs = blobs
    }
}
