/// Names common non-JPEG image formats from their magic bytes, so the error can say what the
/// file is instead of only what it is not.
enum ImageFormatSniffer {
    private static let signatures: [(name: String, magic: [UInt8])] = [
        ("PNG", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
        ("GIF", Array("GIF8".utf8)),
        ("BMP", Array("BM".utf8)),
        ("TIFF", [0x49, 0x49, 0x2A, 0x00]),
        ("TIFF", [0x4D, 0x4D, 0x00, 0x2A]),
    ]

    static func format(of bytes: [UInt8]) -> String? {
        if bytes.count >= 12, bytes[0..<4].elementsEqual("RIFF".utf8), bytes[8..<12].elementsEqual("WEBP".utf8) {
            return "WebP"
        }
        return signatures.first { bytes.starts(with: $0.magic) }?.name
    }
}
