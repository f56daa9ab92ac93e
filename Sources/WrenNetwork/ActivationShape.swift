/// The NCHW shape of one named activation of the whole batch.
public struct ActivationShape: Sendable, Equatable, CustomStringConvertible {
    public var batch, channels, height, width: Int

    public init(batch: Int, channels: Int, height: Int, width: Int) {
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
    }

    /// Number of values in the activation.
    public var count: Int { batch * channels * height * width }
    /// Number of values in one image of the activation.
    public var countPerImage: Int { channels * height * width }
    public var description: String { "[\(batch), \(channels), \(height), \(width)]" }
}
