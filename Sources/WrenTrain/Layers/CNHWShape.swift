/// The shape of an activation in the training engine's layout, `[channels, batch, height, width]`,
/// contiguous. Channel-major so that a convolution over the whole batch is one GEMM whose columns
/// are (image, y, x), and a batch-norm channel is one contiguous run of `batch·height·width` values.
public struct CNHWShape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public let channels: Int
    public let batch: Int
    public let height: Int
    public let width: Int

    public init(channels: Int, batch: Int, height: Int, width: Int) {
        precondition(channels >= 0 && batch >= 0 && height >= 0 && width >= 0,
                     "negative extent in [C \(channels), N \(batch), H \(height), W \(width)]")
        self.channels = channels
        self.batch = batch
        self.height = height
        self.width = width
    }

    /// Values in one channel: the run a batch-norm statistic is taken over.
    public var perChannel: Int { batch * height * width }
    public var count: Int { channels * perChannel }

    /// Flat index of `(channel, image, y, x)`.
    @inline(__always)
    public func index(channel: Int, image: Int, y: Int, x: Int) -> Int {
        ((channel * batch + image) * height + y) * width + x
    }

    public var description: String { "[C \(channels), N \(batch), H \(height), W \(width)]" }
}

/// Copies NCHW images (the layout data sets and PyTorch use) into the CNHW layout of `shape`:
/// the one transpose at the network's input.
public func transposeNCHWToCNHW(_ source: UnsafeBufferPointer<Float>, shape: CNHWShape,
                                into destination: UnsafeMutableBufferPointer<Float>) {
    precondition(source.count >= shape.count && destination.count >= shape.count,
                 "NCHW→CNHW of \(shape) from \(source.count) into \(destination.count) values")
    let plane = shape.height * shape.width
    let from = source.baseAddress!, to = destination.baseAddress!
    for image in 0..<shape.batch {
        for channel in 0..<shape.channels {
            (to + (channel * shape.batch + image) * plane)
                .update(from: from + (image * shape.channels + channel) * plane, count: plane)
        }
    }
}

/// The inverse, for tests and for reading activations out in PyTorch's layout.
public func transposeCNHWToNCHW(_ source: UnsafeBufferPointer<Float>, shape: CNHWShape,
                                into destination: UnsafeMutableBufferPointer<Float>) {
    precondition(source.count >= shape.count && destination.count >= shape.count,
                 "CNHW→NCHW of \(shape) from \(source.count) into \(destination.count) values")
    let plane = shape.height * shape.width
    let from = source.baseAddress!, to = destination.baseAddress!
    for image in 0..<shape.batch {
        for channel in 0..<shape.channels {
            (to + (image * shape.channels + channel) * plane)
                .update(from: from + (channel * shape.batch + image) * plane, count: plane)
        }
    }
}
