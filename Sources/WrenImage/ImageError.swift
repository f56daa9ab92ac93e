/// Why an image could not be decoded or preprocessed. `source` is the file path, or
/// `"<memory>"` for bytes handed over directly.
public enum ImageError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read (missing, a directory, no permission, ...).
    case unreadableFile(path: String, reason: String)
    /// The bytes are neither JPEG nor PNG. `detectedFormat` names a recognised other format (e.g. "GIF").
    case unsupportedFormat(source: String, detectedFormat: String?)
    /// The decoder refused the data; `message` is libjpeg's or libpng's own (for JPEG, corrupt-data
    /// warnings count too).
    case corrupt(format: ImageFormat, source: String, message: String)
    /// The header announces more pixels than the decoder accepts (decompression-bomb guard);
    /// `limit` says which.
    case tooLarge(format: ImageFormat, source: String, width: Int, height: Int, limit: String)
    /// A progressive JPEG with more scans than the decoder accepts.
    case tooManyScans(source: String, message: String)
    /// The pixel buffer for a `width` x `height` image could not be allocated.
    case outOfMemory(source: String, width: Int, height: Int)
    /// A preprocessing argument or an `RGBImage` whose fields disagree.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read image '\(path)': \(reason)"
        case .unsupportedFormat(let source, let format?):
            return "'\(source)' is a \(format) file; only \(ImageFormat.readable) images are read"
        case .unsupportedFormat(let source, nil):
            return "'\(source)' is not a \(ImageFormat.readable) image (its first bytes are neither signature)"
        case .corrupt(let format, let source, let message):
            return "corrupt \(format.rawValue) '\(source)': \(message)"
        case .tooLarge(let format, let source, let width, let height, let limit):
            return "\(format.rawValue) '\(source)' is \(width)x\(height); \(limit)"
        case .tooManyScans(let source, let message):
            return "JPEG '\(source)' refused: \(message)"
        case .outOfMemory(let source, let width, let height):
            return "out of memory decoding \(width)x\(height) image '\(source)'"
        case .invalidArgument(let why):
            return "invalid argument: \(why)"
        }
    }
}
