import CJPEG
import CPNG
import WrenFiles

/// The image formats Wren decodes, recognised by their first bytes (not by file name).
public enum ImageFormat: String, Sendable, Equatable, CaseIterable {
    case jpeg = "JPEG"
    case png = "PNG"

    /// The format whose signature starts `bytes`, or nil.
    public init?(signatureOf bytes: some Collection<UInt8>) {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) {
            self = .jpeg
        } else if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
            self = .png
        } else {
            return nil
        }
    }

    /// "JPEG or PNG", for messages that list what is read.
    public static let readable = allCases.map(\.rawValue).joined(separator: " or ")
}

/// Decodes JPEG files (libjpeg) and PNG files (libpng) to 8-bit RGB, through setjmp-guarded C
/// wrappers (`CJPEG`, `CPNG`). The format is recognised from the bytes.
///
/// JPEG: grayscale becomes R = G = B; CMYK/YCCK are converted as Pillow does; any libjpeg warning
/// (e.g. a truncated file) is an error, so the decoder never returns made-up pixels.
/// PNG: every colour type, bit depth and interlacing; 16-bit samples are scaled to 8 bits and
/// transparency is composited on black (`wren_png.h` has the exact arithmetic).
/// Images wider or taller than `maxDimension` are refused from the header alone, before any pixel
/// is decoded.
public enum ImageDecoder {
    /// Largest accepted width or height.
    public static let maxDimension = Int(WREN_JPEG_MAX_DIMENSION)

    public static func decode(path: String) throws(ImageError) -> RGBImage {
        let bytes: [UInt8]
        do {
            bytes = try FileBytes.read(path: path)
        } catch {
            throw .unreadableFile(path: path, reason: error.reason)
        }
        return try decode(bytes: bytes, source: path)
    }

    public static func decode(bytes: [UInt8]) throws(ImageError) -> RGBImage {
        try decode(bytes: bytes, source: "<memory>")
    }

    static func decode(bytes: [UInt8], source: String) throws(ImageError) -> RGBImage {
        guard let format = ImageFormat(signatureOf: bytes) else {
            throw .unsupportedFormat(source: source, detectedFormat: ImageFormatSniffer.format(of: bytes))
        }
        var width: Int32 = 0
        var height: Int32 = 0
        var rgb: UnsafeMutablePointer<UInt8>? = nil
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer { input in
            message.withUnsafeMutableBufferPointer { text in
                switch format {
                case .jpeg: wren_jpeg_decode_rgb(input.baseAddress, input.count, &width, &height, &rgb, text.baseAddress, text.count)
                case .png: wren_png_decode_rgb(input.baseAddress, input.count, &width, &height, &rgb, text.baseAddress, text.count)
                }
            }
        }
        defer {
            switch format {
            case .jpeg: wren_jpeg_free(rgb)
            case .png: wren_png_free(rgb)
            }
        }
        let decoderMessage = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // The two wrappers number their statuses alike (OK 0, TOO_LARGE 3, OUT_OF_MEMORY 4).
        switch status {
        case Int32(WREN_JPEG_OK.rawValue):
            guard let rgb else { throw .corrupt(format: format, source: source, message: "decoder returned no pixels") }
            let count = Int(width) * Int(height) * 3
            return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: rgb, count: count)))
        case Int32(WREN_JPEG_TOO_LARGE.rawValue):
            throw .tooLarge(format: format, source: source, width: Int(width), height: Int(height), limit: limit(of: format))
        case Int32(WREN_JPEG_OUT_OF_MEMORY.rawValue):
            throw .outOfMemory(source: source, width: Int(width), height: Int(height))
        case Int32(WREN_JPEG_TOO_MANY_SCANS.rawValue) where format == .jpeg:
            throw .tooManyScans(source: source, message: decoderMessage)
        default:
            throw .corrupt(format: format, source: source, message: decoderMessage.isEmpty ? "decoder status \(status)" : decoderMessage)
        }
    }

    private static func limit(of format: ImageFormat) -> String {
        switch format {
        case .jpeg: return "images larger than \(maxDimension)x\(maxDimension) are refused"
        case .png: return "images larger than \(maxDimension)x\(maxDimension) or \(Int(WREN_PNG_MAX_PIXELS)) pixels are refused"
        }
    }
}
