/// Why an image could not be decoded or preprocessed. `source` is the file path, or
/// `"<memory>"` for bytes handed over directly.
public enum ImageError: Error, Equatable, CustomStringConvertible {
    /// The file could not be read (missing, a directory, no permission, ...).
    case unreadableFile(path: String, reason: String)
    /// The bytes are not a JPEG. `detectedFormat` names a recognised other format (e.g. "PNG").
    case notJPEG(source: String, detectedFormat: String?)
    /// libjpeg refused the data; `message` is libjpeg's own (corrupt-data warnings count too).
    case corruptJPEG(source: String, message: String)
    /// The header announces more pixels than the decoder accepts (decompression-bomb guard).
    case tooLarge(source: String, width: Int, height: Int, maxDimension: Int)
    /// A progressive JPEG with more scans than the decoder accepts.
    case tooManyScans(source: String, message: String)
    /// The RGB buffer for a `width` x `height` image could not be allocated.
    case outOfMemory(source: String, width: Int, height: Int)
    /// A preprocessing argument or an `RGBImage` whose fields disagree.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read image '\(path)': \(reason)"
        case .notJPEG(let source, "PNG"):
            return "'\(source)' is a PNG file; PNG is not supported yet, convert it to JPEG first"
        case .notJPEG(let source, let format?):
            return "'\(source)' is a \(format) file, not a JPEG; only JPEG is supported"
        case .notJPEG(let source, nil):
            return "'\(source)' is not a JPEG file (it does not start with the JPEG marker FF D8 FF)"
        case .corruptJPEG(let source, let message):
            return "corrupt JPEG '\(source)': \(message)"
        case .tooLarge(let source, let width, let height, let maxDimension):
            return "JPEG '\(source)' is \(width)x\(height); images larger than \(maxDimension)x\(maxDimension) are refused"
        case .tooManyScans(let source, let message):
            return "JPEG '\(source)' refused: \(message)"
        case .outOfMemory(let source, let width, let height):
            return "out of memory decoding \(width)x\(height) JPEG '\(source)'"
        case .invalidArgument(let why):
            return "invalid argument: \(why)"
        }
    }
}
