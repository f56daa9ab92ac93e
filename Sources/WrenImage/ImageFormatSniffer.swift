/// Names common image formats from their magic bytes, so the error can say what the file is
/// instead of only what it is not, and folders of photos are read by content, not by extension.
public enum ImageFormatSniffer {
    /// Bytes enough to recognise every format named here.
    public static let prefixLength = 12

    /// "JPEG" (FF D8 FF), or the name `format(of:)` gives, or nil.
    public static func detect(_ bytes: [UInt8]) -> String? {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return "JPEG" }
        return format(of: bytes)
    }

    private static let signatures: [(name: String, magic: [UInt8])] = [
        ("PNG", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
        ("GIF", Array("GIF8".utf8)),
        ("BMP", Array("BM".utf8)),
        ("TIFF", [0x49, 0x49, 0x2A, 0x00]),
        ("TIFF", [0x4D, 0x4D, 0x00, 0x2A]),
    ]

    public static func format(of bytes: [UInt8]) -> String? {
        if bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WEBP".utf8) {
            return "WebP"
        }
        return signatures.first { bytes.starts(with: $0.magic) }?.name
    }
}
