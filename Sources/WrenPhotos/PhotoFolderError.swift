import WrenImage

/// Why a folder of photos cannot be trained on, or a split file cannot be used. Each case names
/// the folder, file or line, and the description says what to do next.
public enum PhotoFolderError: Error, Equatable, CustomStringConvertible {
    /// DATA_DIR (or --val DIR) is missing or not a folder.
    case notAFolder(path: String)
    /// The folder exists but cannot be listed.
    case unreadableFolder(path: String, reason: String)
    /// No (non-hidden) subfolders: nothing tells the classes apart.
    case noClassFolders(root: String)
    /// Exactly one class folder.
    case singleClass(root: String, name: String)
    /// Class folders exist but none holds a JPEG or PNG image.
    case noImages(root: String)
    /// This class folder holds no usable image (`corrupt` of its images could not be decoded).
    case emptyClass(root: String, name: String, corrupt: Int)
    /// A folder or file name with a tab or a line break cannot be written to a split file.
    case unsupportedName(path: String)
    /// `--strict`: an image that could not be decoded.
    case corruptImage(path: String, reason: String)
    /// A --val folder's class subfolder that is not one of the training classes.
    case unknownValidationClass(root: String, name: String, classes: [String])
    /// A --split-file that cannot be read.
    case unreadableSplitFile(path: String, reason: String)
    /// A line of a --split-file that is wrong; `line` counts from 1.
    case invalidSplitLine(path: String, line: Int, reason: String)
    /// Letterbox size, mean or std that preprocessing refuses.
    case invalidPreprocessing(String)
    /// A --split-file with no training image.
    case emptySplit(path: String, part: String)

    public var description: String {
        switch self {
        case .notAFolder(let path):
            return "'\(path)' is not a folder (the photo form is `wren train DATA_DIR`, one subfolder of images per class)"
        case .unreadableFolder(let path, let reason):
            return "cannot list folder '\(path)': \(reason)"
        case .noClassFolders(let root):
            return "'\(root)' holds no class folders: put each class's images in a subfolder named after the class, e.g. \(root)/cat/1.jpg"
        case .singleClass(let root, let name):
            return "'\(root)' holds a single class folder ('\(name)'): a classifier needs at least 2 classes"
        case .noImages(let root):
            return "the class folders of '\(root)' hold no \(ImageFormat.readable) images"
        case .emptyClass(let root, let name, let corrupt):
            let detail = corrupt > 0 ? " (its \(corrupt) image file\(corrupt == 1 ? " is" : "s are") corrupt)" : ""
            return "class folder '\(root)/\(name)' holds no usable image\(detail): add images or remove the folder"
        case .unsupportedName(let path):
            return "'\(path)': names with a tab or a line break are not supported; rename it"
        case .corruptImage(let path, let reason):
            return "cannot use image '\(path)' (--strict): \(reason)"
        case .unknownValidationClass(let root, let name, let classes):
            return "--val: class folder '\(root)/\(name)' is not one of the training classes (\(classes.joined(separator: ", ")))"
        case .unreadableSplitFile(let path, let reason):
            return "cannot read split file '\(path)': \(reason)"
        case .invalidSplitLine(let path, let line, let reason):
            return "\(path):\(line): \(reason)"
        case .invalidPreprocessing(let why):
            return "cannot preprocess the photos: \(why)"
        case .emptySplit(let path, let part):
            return "split file '\(path)' lists no \(part) image"
        }
    }
}
