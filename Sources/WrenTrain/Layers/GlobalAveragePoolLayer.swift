/// Global average pooling of a CNHW batch into features `[C, N]` (channel-major, as the batch
/// arrives; `LinearLayer` reads that layout directly), and its backward, which spreads each
/// feature's gradient evenly over its plane. Stateless; the caller owns all buffers.
public struct GlobalAveragePoolLayer: Sendable {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let maxBatch: Int

    public init(channels: Int, height: Int, width: Int, maxBatch: Int) throws(TrainingError) {
        guard channels > 0, height > 0, width > 0, maxBatch > 0 else {
            throw .invalidConfiguration("global average pool over \(channels) channels of \(height)x\(width) at batch \(maxBatch)")
        }
        self.channels = channels
        self.height = height
        self.width = width
        self.maxBatch = maxBatch
    }

    public func inputShape(batch: Int) -> CNHWShape { CNHWShape(channels: channels, batch: batch, height: height, width: width) }

    /// `output[c, n] = mean of input[c, n, ·, ·]`, summed in Double.
    public func forward(input: UnsafeBufferPointer<Float>, batch: Int, output: UnsafeMutableBufferPointer<Float>) {
        let shape = inputShape(batch: batch)
        precondition(batch > 0 && batch <= maxBatch && input.count >= shape.count && output.count >= channels * batch,
                     "global average pool at \(shape) (sized for batch \(maxBatch)): input \(input.count), output \(output.count) values")
        let plane = height * width
        let n = Double(plane)
        for index in 0..<(channels * batch) {
            output[index] = Float(doubleSum(input.baseAddress! + index * plane, count: plane) / n)
        }
    }

    /// `inputGradient[c, n, y, x] = outputGradient[c, n] / (height·width)`.
    public func backward(outputGradient: UnsafeBufferPointer<Float>, batch: Int, inputGradient: UnsafeMutableBufferPointer<Float>) {
        let shape = inputShape(batch: batch)
        precondition(batch > 0 && batch <= maxBatch && outputGradient.count >= channels * batch && inputGradient.count >= shape.count,
                     "global average pool backward at \(shape): output gradient \(outputGradient.count), input gradient \(inputGradient.count) values")
        let plane = height * width
        let inverse = Float(1 / Double(plane))
        for index in 0..<(channels * batch) {
            (inputGradient.baseAddress! + index * plane).update(repeating: outputGradient[index] * inverse, count: plane)
        }
    }
}
