/// Random, seeded changes to each training image as its batch is gathered (`--augment`):
/// horizontal and vertical flips (each with probability 1/2, as torchvision's RandomHorizontalFlip
/// and RandomVerticalFlip) and the WRN paper's random crop (torchvision's `RandomCrop(size,
/// padding: 4)`: the image shifted by dx, dy uniform in -4...4, uncovered pixels filled with
/// `padding[c]`, the normalized value of black for photos, 0 for `.npy` data).
///
/// Draws per image, in this order and only for what is enabled: hflip, vflip, dx, dy, each
/// one 64-bit draw of the trainer's augmentation generator (its own stream of the seed).
public struct Augmentation: Sendable, Equatable, CustomStringConvertible {
    public var horizontalFlip = false
    public var verticalFlip = false
    /// 0 for no crop, else the padding of the random crop (the paper: 4).
    public var cropPadding = 0
    /// The value of padding pixels per channel (3 values).
    public var padding: [Float] = [0, 0, 0]

    public static let none = Augmentation()

    public var isNone: Bool { !horizontalFlip && !verticalFlip && cropPadding == 0 }

    public init(horizontalFlip: Bool = false, verticalFlip: Bool = false, cropPadding: Int = 0, padding: [Float] = [0, 0, 0]) {
        self.horizontalFlip = horizontalFlip
        self.verticalFlip = verticalFlip
        self.cropPadding = cropPadding
        self.padding = padding
    }

    /// "none", or a comma-separated list of hflip, vflip and crop.
    public init(parsing text: String, padding: [Float] = [0, 0, 0]) throws(TrainingError) {
        self.padding = padding
        if text == "none" { return }
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingCharacters() }) {
            switch item {
            case "hflip": horizontalFlip = true
            case "vflip": verticalFlip = true
            case "crop": cropPadding = 4
            default:
                throw .invalidConfiguration("augmentation '\(item)' is not one of hflip, vflip, crop (or none)")
            }
        }
    }

    public var description: String {
        let names = (horizontalFlip ? ["hflip"] : []) + (verticalFlip ? ["vflip"] : []) + (cropPadding > 0 ? ["crop"] : [])
        return names.isEmpty ? "none" : names.joined(separator: ",")
    }

    /// Writes the augmented `source` (CHW, 3 × height × width) into `destination`.
    func apply(_ source: UnsafeBufferPointer<Float>, to destination: UnsafeMutableBufferPointer<Float>, height: Int, width: Int,
               generator: inout ParameterGenerator) {
        let flipX = horizontalFlip && generator.next() & 1 == 1
        let flipY = verticalFlip && generator.next() & 1 == 1
        var dx = 0, dy = 0
        if cropPadding > 0 {
            let span = UInt64(2 * cropPadding + 1)
            dx = Int(generator.next() % span) - cropPadding
            dy = Int(generator.next() % span) - cropPadding
        }
        let plane = height * width
        for channel in 0..<3 {
            let fill = padding[channel]
            for y in 0..<height {
                let sourceY = (flipY ? height - 1 - y : y) + dy
                for x in 0..<width {
                    let sourceX = (flipX ? width - 1 - x : x) + dx
                    let inside = sourceY >= 0 && sourceY < height && sourceX >= 0 && sourceX < width
                    destination[channel * plane + y * width + x] = inside ? source[channel * plane + sourceY * width + sourceX] : fill
                }
            }
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
