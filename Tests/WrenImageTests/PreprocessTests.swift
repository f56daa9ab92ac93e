import Testing
@testable import WrenImage

/// The letterbox against the NumPy implementation in tools/make_image_fixtures.py, fed the same
/// Pillow-decoded pixels.
@Suite struct PreprocessTests {
    static func meanAndStd() throws -> (mean: [Float], std: [Float]) {
        let stats = try ImageFixtures.float32Array("letterbox_mean_std.npy")
        try #require(stats.shape == [2, 3])
        return (Array(stats.values[0..<3]), Array(stats.values[3..<6]))
    }

    static func pillowImage(_ name: String) throws -> RGBImage {
        let pixels = try ImageFixtures.uint8Array("\(name).rgb.npy")
        try #require(pixels.shape.count == 3 && pixels.shape[2] == 3)
        return RGBImage(width: pixels.shape[1], height: pixels.shape[0], pixels: pixels.values)
    }

    @Test(arguments: ["gradient_40x24", "portrait_24x40_progressive", "random_64x33", "pattern_32x32"])
    func matchesNumpyReference(name: String) throws {
        let (mean, std) = try Self.meanAndStd()
        let output = try Preprocess.letterboxNormalize(try Self.pillowImage(name), size: 32, mean: mean, std: std)
        let expected = try ImageFixtures.float32Array("\(name).letterbox32.npy")
        #expect(expected.shape == [3, 32, 32])
        try #require(output.count == expected.values.count)
        let worst = zip(output, expected.values).enumerated().max { abs($0.element.0 - $0.element.1) < abs($1.element.0 - $1.element.1) }!
        let difference = abs(worst.element.0 - worst.element.1)
        #expect(difference <= 1e-5, "\(name): max |swift - numpy| = \(difference) at CHW index \(worst.offset)")
    }

    /// Already size x size: no resampling, each value is exactly the per-pixel normalization.
    @Test func squareImageOfTargetSizePassesThroughExactly() throws {
        let (mean, std) = try Self.meanAndStd()
        let image = try Self.pillowImage("pattern_32x32")
        let output = try Preprocess.letterboxNormalize(image, size: 32, mean: mean, std: std)
        for channel in 0..<3 {
            for y in 0..<32 {
                for x in 0..<32 {
                    let pixel = Double(image.pixels[(y * 32 + x) * 3 + channel])
                    let direct = Float((pixel / 255 - Double(mean[channel])) / Double(std[channel]))
                    #expect(output[channel * 1024 + y * 32 + x] == direct, "channel \(channel) y \(y) x \(x)")
                }
            }
        }
    }

    @Test func scaledLengthRoundsHalfUp() {
        // 33 * 32 / 64 = 16.5 -> 17; 24 * 32 / 40 = 19.2 -> 19; a 1-pixel side never vanishes.
        #expect(Preprocess.scaledLength(33, size: 32, longer: 64) == 17)
        #expect(Preprocess.scaledLength(24, size: 32, longer: 40) == 19)
        #expect(Preprocess.scaledLength(1, size: 32, longer: 10_000) == 1)
        #expect(Preprocess.scaledLength(64, size: 32, longer: 64) == 32)
    }

    @Test func paddingIsNormalizedBlack() throws {
        let (mean, std) = try Self.meanAndStd()
        let output = try Preprocess.letterboxNormalize(try Self.pillowImage("gradient_40x24"), size: 32, mean: mean, std: std)
        // 40x24 -> 32x19 placed at row 6: rows 0...5 and 25...31 are padding.
        for channel in 0..<3 {
            let padding = Float((0 - Double(mean[channel])) / Double(std[channel]))
            for row in [0, 5, 25, 31] {
                #expect(output[channel * 1024 + row * 32 + 7] == padding)
            }
        }
    }

    @Test func invalidArgumentsAreRefused() throws {
        let image = RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 100, count: 12))
        let mean: [Float] = [0.5, 0.5, 0.5]
        let std: [Float] = [0.25, 0.25, 0.25]
        #expect(throws: ImageError.self) { try Preprocess.letterboxNormalize(image, mean: [0.5, 0.5], std: std) }
        #expect(throws: ImageError.self) { try Preprocess.letterboxNormalize(image, mean: mean, std: [0.25, 0, 0.25]) }
        #expect(throws: ImageError.self) { try Preprocess.letterboxNormalize(image, mean: mean, std: [0.25, .nan, 0.25]) }
        #expect(throws: ImageError.self) { try Preprocess.letterboxNormalize(image, size: 0, mean: mean, std: std) }
        let inconsistent = RGBImage(width: 3, height: 2, pixels: [UInt8](repeating: 0, count: 12))
        #expect(throws: ImageError.self) { try Preprocess.letterboxNormalize(inconsistent, mean: mean, std: std) }
        let empty = RGBImage(width: 0, height: 5, pixels: [])
        #expect(throws: ImageError.self) { try Preprocess.letterboxNormalize(empty, mean: mean, std: std) }
        // The same image with valid arguments works: 2x2 -> 32x32, a uniform 100 stays 100.
        let output = try Preprocess.letterboxNormalize(image, mean: mean, std: std)
        #expect(output.count == 3 * 32 * 32)
        #expect(output.allSatisfy { $0 == Float((100.0 / 255 - 0.5) / 0.25) })
    }
}
