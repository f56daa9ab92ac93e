import CJPEG
import WrenFiles

/// Decodes JPEG files to RGB with libjpeg (through the setjmp-guarded C wrapper in `CJPEG`).
///
/// Grayscale becomes R = G = B; CMYK/YCCK are converted as Pillow does. Images wider or taller
/// than `maxDimension` are refused from the header alone, before any pixel is decoded. Any
/// libjpeg warning (e.g. a truncated file) is an error: the decoder never returns made-up pixels.
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
        guard bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF else {
            throw .notJPEG(source: source, detectedFormat: ImageFormatSniffer.format(of: bytes))
        }
        var width: Int32 = 0
        var height: Int32 = 0
        var rgb: UnsafeMutablePointer<UInt8>? = nil
        var message = [CChar](repeating: 0, count: 256)
        let status = bytes.withUnsafeBufferPointer { input in
            message.withUnsafeMutableBufferPointer { text in
                wren_jpeg_decode_rgb(input.baseAddress, input.count, &width, &height, &rgb, text.baseAddress, text.count)
            }
        }
        defer { wren_jpeg_free(rgb) }
        let libjpegMessage = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        switch status {
        case Int32(WREN_JPEG_OK.rawValue):
            guard let rgb else { throw .corruptJPEG(source: source, message: "decoder returned no pixels") }
            let count = Int(width) * Int(height) * 3
            return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: rgb, count: count)))
        case Int32(WREN_JPEG_TOO_LARGE.rawValue):
            throw .tooLarge(source: source, width: Int(width), height: Int(height), maxDimension: maxDimension)
        case Int32(WREN_JPEG_OUT_OF_MEMORY.rawValue):
            throw .outOfMemory(source: source, width: Int(width), height: Int(height))
        case Int32(WREN_JPEG_TOO_MANY_SCANS.rawValue):
            throw .tooManyScans(source: source, message: libjpegMessage)
        default:
            throw .corruptJPEG(source: source, message: libjpegMessage.isEmpty ? "libjpeg status \(status)" : libjpegMessage)
        }
    }
}
