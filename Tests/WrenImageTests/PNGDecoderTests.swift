import Foundation
import Testing
@testable import WrenImage

/// libpng through CPNG against pixels computed from the arrays the PNGs were written from
/// (tools/make_png_fixtures.py, pypng): no decoder made the expectations, so they are exact.
@Suite struct PNGDecoderTests {
    /// Every colour type and bit depth, tRNS and alpha, Adam7 interlacing, a gAMA chunk, 1x1.
    static let cases = [
        "gray1_11x6", "gray2_11x6", "gray4_11x6", "gray8_11x6", "gray16_11x6",
        "gray8_trns_9x9", "gray16_trns_7x5", "gray8_gamma_8x8", "gray16_interlaced_21x19",
        "graya8_10x4", "graya16_6x6",
        "rgb8_13x7", "rgb16_5x12", "rgb8_trns_12x8", "rgb16_trns_4x4", "rgb8_interlaced_37x20",
        "rgba8_9x14", "rgba16_interlaced_17x9",
        "palette1_15x10", "palette2_15x10", "palette4_15x10", "palette8_15x10",
        "palette8_trns_12x12", "palette4_trns_interlaced_23x11", "rgb8_1x1",
    ]

    static func path(_ name: String) -> String { ImageFixtures.path("png/\(name)") }

    @Test(arguments: cases)
    func decodesTheWrittenPixels(name: String) throws {
        let image = try ImageDecoder.decode(path: Self.path("\(name).png"))
        let expected = try ImageFixtures.uint8Array("png/\(name).rgb.npy")
        #expect([image.height, image.width, 3] == expected.shape, "\(name)")
        #expect(image.pixels == expected.values, "\(name): pixels differ from the written ones")
    }

    /// The letterbox of a decoded PNG is the NumPy letterbox of its pixels (the input `wren run` builds).
    @Test(arguments: ["rgba16_interlaced_17x9", "palette8_trns_12x12", "gray2_11x6"])
    func letterboxesLikeTheReference(name: String) throws {
        let image = try ImageDecoder.decode(path: Self.path("\(name).png"))
        let letterboxed = try Preprocess.letterboxNormalize(image, size: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
        let expected = try ImageFixtures.float32Array("png/\(name).letterbox32.npy")
        #expect(letterboxed == expected.values)
    }

    @Test func anAncillaryChunkWithABadCRCIsSkipped() throws {
        let image = try ImageDecoder.decode(path: Self.path("bad_text_crc.png"))
        #expect(image == (try ImageDecoder.decode(path: Self.path("rgb8_13x7.png"))))
    }

    @Test func corruptImageDataIsAnError() throws {
        for (name, message) in [("truncated.png", "unexpected end of file (the PNG is truncated)"), ("bad_idat_crc.png", "IDAT: CRC error")] {
            let path = Self.path(name)
            let error = #expect(throws: ImageError.self, "\(name)") { try ImageDecoder.decode(path: path) }
            #expect(error == .corrupt(format: .png, source: path, message: message), "\(name)")
        }
    }

    /// Headers announcing too many pixels are refused before any pixel buffer exists.
    @Test func bombHeadersAreRefused() throws {
        let huge = Self.path("huge_header.png")
        #expect(throws: ImageError.tooLarge(format: .png, source: huge, width: 16384, height: 16384,
                                            limit: "images larger than 16384x16384 or 67108864 pixels are refused")) {
            try ImageDecoder.decode(path: huge)
        }
        let wide = Self.path("wide_header.png")
        #expect(throws: ImageError.tooLarge(format: .png, source: wide, width: 20000, height: 10,
                                            limit: "images larger than 16384x16384 or 67108864 pixels are refused")) {
            try ImageDecoder.decode(path: wide)
        }
    }

    /// Every prefix of a valid file fails cleanly: an error, never a crash or made-up pixels.
    @Test func everyTruncationFailsCleanly() throws {
        let bytes = try ImageFixtures.bytes("png/rgba16_interlaced_17x9.png")
        for length in 0..<bytes.count {
            #expect(throws: ImageError.self, "prefix of \(length) bytes") { try ImageDecoder.decode(bytes: Array(bytes.prefix(length))) }
        }
    }
}
