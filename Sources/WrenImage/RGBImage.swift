/// An 8-bit RGB image, rows top to bottom, pixels interleaved: `pixels[(y * width + x) * 3 + c]`.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Height x width x 3 bytes (HWC, RGB).
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}
