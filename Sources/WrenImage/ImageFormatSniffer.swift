/// Names common image formats Wren does not read from their magic bytes, so an error can say what
/// a file is instead of only what it is not (`ImageFormat` recognises the ones it reads).
public enum ImageFormatSniffer {
    /// Bytes enough to recognise every format named here and in `ImageFormat`.
    public static let prefixLength = 12

    private static let signatures: [(name: String, magic: [UInt8])] = [
        ("GIF", Array("GIF8".utf8)),
        ("BMP", Array("BM".utf8)),
        ("TIFF", [0x49, 0x49, 0x2A, 0x00]),
        ("TIFF", [0x4D, 0x4D, 0x00, 0x2A]),
    ]

    /// "WebP", "GIF", "BMP", "TIFF", or nil.
    public static func format(of bytes: [UInt8]) -> String? {
        if bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WEBP".utf8) {
            return "WebP"
        }
        return signatures.first { bytes.starts(with: $0.magic) }?.name
    }
}
