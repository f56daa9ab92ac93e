import WrenCore

/// A quantized network ready to be written: the writer's input, the reader's output in spirit.
public struct QuantizedModel: Sendable {
    public var input: InputInfo
    public var numClasses: Int
    public var metadata: [(key: String, value: String)]
    public var tensors: [TensorInfo]
    public var layers: [QuantizedLayer]
    /// `WrenFormat.roundingRule*`: how the kernels round the sums this file's multipliers describe.
    public var roundingRule: UInt32
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
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }

    static func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * MemoryLayout<T>.size)
        for v in values { bytes.appendLittleEndian(v) }
        return bytes
    }

    static func littleEndian(_ values: [Float]) -> [UInt8] {
        littleEndian(values.map(\.bitPattern))
    }
}
