import Foundation
import Testing
@testable import WrenImage

/// Swift's libjpeg decode against the pixels Pillow decoded from the same files
/// (tools/make_image_fixtures.py). Pillow bundles libjpeg-turbo 3.2.0, Debian's is 2.1.5: allow ±2.
@Suite struct ImageDecoderTests {
    static let jpegFixtures = ["gradient_40x24", "gray_16x16", "pattern_32x32", "portrait_24x40_progressive", "cmyk_16x16"]

    @Test(arguments: jpegFixtures)
    func decodeMatchesPillow(name: String) throws {
        let image = try ImageDecoder.decode(path: ImageFixtures.path("\(name).jpg"))
        let expected = try ImageFixtures.uint8Array("\(name).rgb.npy")
        #expect(expected.shape == [image.height, image.width, 3])
        try #require(image.pixels.count == expected.values.count)
        let maxDifference = zip(image.pixels, expected.values).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(maxDifference <= 2, "\(name): max per-channel difference to Pillow is \(maxDifference)")
        print("\(name): \(image.width)x\(image.height), max difference to Pillow \(maxDifference)")
    }

    @Test func decodeBytesEqualsDecodePath() throws {
        let fromPath = try ImageDecoder.decode(path: ImageFixtures.path("gradient_40x24.jpg"))
        let fromBytes = try ImageDecoder.decode(bytes: ImageFixtures.bytes("gradient_40x24.jpg"))
        #expect(fromPath == fromBytes)
        #expect(fromPath.width == 40 && fromPath.height == 24)
    }

    @Test func grayscaleExpandsToEqualChannels() throws {
        let image = try ImageDecoder.decode(path: ImageFixtures.path("gray_16x16.jpg"))
        for pixel in 0..<(image.width * image.height) {
            let base = pixel * 3
            #expect(image.pixels[base] == image.pixels[base + 1] && image.pixels[base] == image.pixels[base + 2])
        }
    }

    @Test func truncatedFileIsCorruptWithLibjpegMessage() throws {
        let path = ImageFixtures.path("truncated.jpg")
        #expect(throws: ImageError.corrupt(format: .jpeg, source: path, message: "Premature end of JPEG file")) {
            try ImageDecoder.decode(path: path)
        }
    }

    @Test func otherFormatsAreNamedAndRefused() throws {
        let gif = Array("GIF89a".utf8) + [0, 0, 0, 0]
        let error = #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes: gif) }
        #expect(error == .unsupportedFormat(source: "<memory>", detectedFormat: "GIF"))
        #expect(error?.description == "'<memory>' is a GIF file; only JPEG or PNG images are read")
    }

    @Test func missingFileIsUnreadable() throws {
        let path = ImageFixtures.path("does_not_exist.jpg")
        let error = #expect(throws: ImageError.self) { try ImageDecoder.decode(path: path) }
        guard case .unreadableFile(let reportedPath, let reason)? = error else {
            Issue.record("expected unreadableFile, got \(String(describing: error))")
            return
        }
        #expect(reportedPath == path)
        #expect(!reason.isEmpty)
    }

    @Test func directoryIsUnreadable() throws {
        let path = ImageFixtures.directory.path
        let error = #expect(throws: ImageError.self) { try ImageDecoder.decode(path: path) }
        guard case .unreadableFile? = error else {
            Issue.record("expected unreadableFile, got \(String(describing: error))")
            return
        }
    }

    @Test func emptyAndShortInputsAreNoImage() {
        #expect(throws: ImageError.unsupportedFormat(source: "<memory>", detectedFormat: nil)) { try ImageDecoder.decode(bytes: []) }
        #expect(throws: ImageError.unsupportedFormat(source: "<memory>", detectedFormat: nil)) { try ImageDecoder.decode(bytes: [0xFF, 0xD8]) }
        #expect(throws: ImageError.unsupportedFormat(source: "<memory>", detectedFormat: nil)) { try ImageDecoder.decode(bytes: [0x89, 0x50, 0x4E, 0x47]) }
    }

    @Test func garbageAfterJPEGMarkerIsCorrupt() {
        let bytes: [UInt8] = [0xFF, 0xD8, 0xFF] + [UInt8](repeating: 0x42, count: 64)
        let error = #expect(throws: ImageError.self) { try ImageDecoder.decode(bytes: bytes) }
        guard case .corrupt(.jpeg, _, let message)? = error else {
            Issue.record("expected a corrupt JPEG, got \(String(describing: error))")
            return
        }
        #expect(!message.isEmpty)
    }

    /// Patch the SOF marker of a real file to announce a huge image: refused from the header.
    @Test(arguments: [(20_000, 10), (10, 16_385), (65_535, 65_535)])
    func oversizedHeaderIsRefused(width: Int, height: Int) throws {
        var bytes = try ImageFixtures.bytes("gradient_40x24.jpg")
        let sof = try #require((0..<(bytes.count - 9)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        // FF C0, length (2), precision (1), height (2), width (2)
        bytes[sof + 5] = UInt8(height >> 8)
        bytes[sof + 6] = UInt8(height & 0xFF)
        bytes[sof + 7] = UInt8(width >> 8)
        bytes[sof + 8] = UInt8(width & 0xFF)
        #expect(throws: ImageError.tooLarge(format: .jpeg, source: "<memory>", width: width, height: height,
                                            limit: "images larger than 16384x16384 are refused")) {
            try ImageDecoder.decode(bytes: bytes)
        }
    }

    /// Every prefix of a valid file must fail cleanly (an error, never a crash or made-up pixels).
    @Test func everyTruncationFailsCleanly() throws {
        let bytes = try ImageFixtures.bytes("portrait_24x40_progressive.jpg")
        for length in 0..<bytes.count {
            #expect(throws: ImageError.self, "prefix of \(length) bytes") { try ImageDecoder.decode(bytes: Array(bytes.prefix(length))) }
        }
    }
}
