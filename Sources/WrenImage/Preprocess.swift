/// Turns a decoded image into the network's input tensor.
public enum Preprocess {
    /// Letterboxes `image` into a `size` x `size` square and normalizes it; returns CHW float32
    /// `[3, size, size]`, channel-major.
    ///
    /// The algorithm, exactly (tools/make_image_fixtures.py implements the same in NumPy):
    /// 1. Scaled size. With `L = max(width, height)`, each side `s` becomes
    ///    `s' = max(1, floor((2 * s * size + L) / (2 * L)))`, i.e. `s * size / L` rounded half up,
    ///    computed in integers. The longer side becomes exactly `size`.
    /// 2. Bilinear resize to `w' x h'` with half-pixel centers, per axis independently: output
    ///    index `o` samples source coordinate `(o + 0.5) * (s / s') - 0.5`, clamped to
    ///    `[0, s - 1]`; with `i0 = floor(coordinate)`, `i1 = min(i0 + 1, s - 1)`,
    ///    `f = coordinate - i0`, the value is
    ///    `(1 - fy) * ((1 - fx) * p[y0][x0] + fx * p[y0][x1]) + fy * ((1 - fx) * p[y1][x0] + fx * p[y1][x1])`.
    ///    Arithmetic is in Double on 0...255 values with no rounding back to 8 bits. It samples
    ///    only the 2x2 neighbours (no antialiasing), like OpenCV's INTER_LINEAR, so large
    ///    downscales alias. When `s' == s` the coordinate is exactly `o` and `f == 0`, so an image
    ///    already `size` x `size` passes through unchanged.
    /// 3. Placement: the resized image goes at column `floor((size - w') / 2)`, row
    ///    `floor((size - h') / 2)` of a black (0) canvas.
    /// 4. Normalization per channel: `Float((v / 255 - Double(mean[c])) / Double(std[c]))`, padding
    ///    included (so padding becomes `-mean[c] / std[c]`).
    public static func letterboxNormalize(_ image: RGBImage, size: Int = 32, mean: [Float], std: [Float]) throws(ImageError) -> [Float] {
        try validate(image, size: size, mean: mean, std: std)
        let width = image.width
        let height = image.height
        let longer = max(width, height)
        let scaledWidth = scaledLength(width, size: size, longer: longer)
        let scaledHeight = scaledLength(height, size: size, longer: longer)
        let columns = samplePositions(source: width, scaled: scaledWidth)
        let rows = samplePositions(source: height, scaled: scaledHeight)
        let left = (size - scaledWidth) / 2
        let top = (size - scaledHeight) / 2

        let plane = size * size
        var output = [Float](repeating: 0, count: 3 * plane)
        for channel in 0..<3 {
            let channelMean = Double(mean[channel])
            let channelStd = Double(std[channel])
            let padding = Float((0 - channelMean) / channelStd)
            for index in 0..<plane { output[channel * plane + index] = padding }
        }
        image.pixels.withUnsafeBufferPointer { pixels in
            for (outY, row) in rows.enumerated() {
                for (outX, column) in columns.enumerated() {
                    for channel in 0..<3 {
                        let p00 = Double(pixels[(row.low * width + column.low) * 3 + channel])
                        let p01 = Double(pixels[(row.low * width + column.high) * 3 + channel])
                        let p10 = Double(pixels[(row.high * width + column.low) * 3 + channel])
                        let p11 = Double(pixels[(row.high * width + column.high) * 3 + channel])
                        let upper = (1 - column.fraction) * p00 + column.fraction * p01
                        let lower = (1 - column.fraction) * p10 + column.fraction * p11
                        let value = (1 - row.fraction) * upper + row.fraction * lower
                        let normalized = (value / 255 - Double(mean[channel])) / Double(std[channel])
                        output[channel * plane + (top + outY) * size + left + outX] = Float(normalized)
                    }
                }
            }
        }
        return output
    }

    /// `length * size / longer` rounded half up, at least 1; exact in integers.
    static func scaledLength(_ length: Int, size: Int, longer: Int) -> Int {
        max(1, (2 * length * size + longer) / (2 * longer))
    }

    struct SamplePosition: Equatable {
        var low: Int
        var high: Int
        var fraction: Double
    }

    /// Half-pixel-center source positions for each of `scaled` outputs along an axis of `source` pixels.
    static func samplePositions(source: Int, scaled: Int) -> [SamplePosition] {
        let ratio = Double(source) / Double(scaled)
        return (0..<scaled).map { output in
            let coordinate = min(max((Double(output) + 0.5) * ratio - 0.5, 0), Double(source - 1))
            let low = Int(coordinate.rounded(.down))
            return SamplePosition(low: low, high: min(low + 1, source - 1), fraction: coordinate - Double(low))
        }
    }

    /// The largest square `letterboxNormalize` fills.
    public static let maxLetterboxSize = 4096

    private static func validate(_ image: RGBImage, size: Int, mean: [Float], std: [Float]) throws(ImageError) {
        guard size >= 1, size <= maxLetterboxSize else {
            throw .invalidArgument("letterbox size \(size) is outside 1...\(maxLetterboxSize)")
        }
        guard image.width >= 1, image.height >= 1,
              image.width <= ImageDecoder.maxDimension, image.height <= ImageDecoder.maxDimension else {
            throw .invalidArgument("image is \(image.width)x\(image.height); each side must be in 1...\(ImageDecoder.maxDimension)")
        }
        guard image.pixels.count == image.width * image.height * 3 else {
            throw .invalidArgument("image is \(image.width)x\(image.height) but holds \(image.pixels.count) bytes, expected \(image.width * image.height * 3)")
        }
        guard mean.count == 3, std.count == 3 else {
            throw .invalidArgument("mean and std need 3 values each (R, G, B), got \(mean.count) and \(std.count)")
        }
        for channel in 0..<3 where !(mean[channel].isFinite && std[channel].isFinite && std[channel] > 0) {
            throw .invalidArgument("channel \(channel): mean \(mean[channel]) and std \(std[channel]) must be finite, std > 0")
        }
    }
}
