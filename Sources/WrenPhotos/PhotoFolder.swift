import WrenFiles
import WrenImage

/// A folder of photos laid out one subfolder per class (`DATA_DIR/<class name>/<image>`), as
/// found on disk, before any image is decoded.
///
/// - The classes are the subfolders' names in sorted order (Swift's `String` order: Unicode
///   scalar order for names in NFC, as Python's `sorted`); class `i` is the i-th name.
/// - Files are read by content, not by extension: the first bytes decide (JPEG or PNG, see
///   `ImageFormat`). Images in other formats (GIF, WebP, ...) and files that are no image are skipped and listed,
///   as are files directly in DATA_DIR and folders inside a class folder.
/// - Names starting with `.` (`.ipynb_checkpoints`, `.DS_Store`) are ignored, at every level.
public struct PhotoFolder: Sendable {
    /// One image file: its path relative to the root and its class.
    public struct Photo: Sendable, Equatable {
        public var relativePath: String
        public var classIndex: Int
    }

    /// A file that is not used, and why ("not an image", "GIF: only JPEG or PNG is read", ...).
    public struct Skipped: Sendable, Equatable {
        public var relativePath: String
        public var reason: String
    }

    public let root: String
    public let classes: [String]
    /// By class, then by file name.
    public let photos: [Photo]
    public let skipped: [Skipped]

    public func path(of photo: Photo) -> String { Self.join(root, photo.relativePath) }

    /// "skipped 2 files that are not JPEG or PNG images: notes.txt (not in a class folder), ...",
    /// or nil when nothing was skipped: what every command reading a folder prints once.
    public var skippedListing: String? {
        guard !skipped.isEmpty else { return nil }
        let count = skipped.count
        return "skipped \(count) file\(count == 1 ? "" : "s") that \(count == 1 ? "is" : "are") not \(ImageFormat.readable) images: "
            + skipped.map { "\($0.relativePath) (\($0.reason))" }.joined(separator: ", ")
    }

    /// How many photos each class has.
    public var countsByClass: [Int] {
        var counts = [Int](repeating: 0, count: classes.count)
        for photo in photos { counts[photo.classIndex] += 1 }
        return counts
    }

    /// Scans `root`. Throws when it is not a folder, has fewer than `minimumClasses` (training: 2)
    /// class folders, or no class folder holds a JPEG or PNG image. A class folder without images is
    /// refused later, after decoding (`PhotoCache.load`), so that a class of only corrupt files is
    /// refused the same way.
    public static func scan(_ root: String, minimumClasses: Int = 2) throws(PhotoFolderError) -> PhotoFolder {
        guard DirectoryListing.isFolder(root) else { throw .notAFolder(path: root) }
        let top = try list(root)
        var classes: [String] = []
        var skipped: [Skipped] = []
        for entry in top where !entry.name.hasPrefix(".") {
            switch entry.kind {
            case .folder: classes.append(entry.name)
            case .file, .other: skipped.append(Skipped(relativePath: entry.name, reason: "not in a class folder"))
            }
        }
        guard !classes.isEmpty else { throw .noClassFolders(root: root) }
        guard classes.count >= minimumClasses else { throw .singleClass(root: root, name: classes[0]) }
        for name in classes where name.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\r" }) {
            throw .unsupportedName(path: join(root, name))
        }
        var photos: [Photo] = []
        for (classIndex, name) in classes.enumerated() {
            let folder = join(root, name)
            for entry in try list(folder) where !entry.name.hasPrefix(".") {
                let relative = name + "/" + entry.name
                guard entry.kind == .file else {
                    skipped.append(Skipped(relativePath: relative, reason: entry.kind == .folder ? "a folder inside a class folder" : "not a regular file"))
                    continue
                }
                let prefix: [UInt8]
                do {
                    prefix = try DirectoryListing.prefix(of: join(folder, entry.name), count: ImageFormatSniffer.prefixLength)
                } catch {
                    skipped.append(Skipped(relativePath: relative, reason: "unreadable: \(error.reason)"))
                    continue
                }
                if ImageFormat(signatureOf: prefix) != nil {
                    if entry.name.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\r" }) {
                        throw .unsupportedName(path: join(folder, entry.name))
                    }
                    photos.append(Photo(relativePath: relative, classIndex: classIndex))
                    continue
                }
                switch ImageFormatSniffer.format(of: prefix) {
                case let format?:
                    skipped.append(Skipped(relativePath: relative, reason: "\(format): only \(ImageFormat.readable) is read"))
                case nil:
                    skipped.append(Skipped(relativePath: relative, reason: "not an image"))
                }
            }
        }
        guard !photos.isEmpty else { throw .noImages(root: root) }
        return PhotoFolder(root: root, classes: classes, photos: photos, skipped: skipped)
    }

    /// A `--val` folder read against the training classes: its class folders must carry training
    /// class names (a subset is fine); its photos get the training class indices.
    public static func scan(_ root: String, classes trainingClasses: [String]) throws(PhotoFolderError) -> PhotoFolder {
        let folder = try scan(root, minimumClasses: 1)
        var mapping: [Int] = []
        for name in folder.classes {
            guard let index = trainingClasses.firstIndex(of: name) else {
                throw .unknownValidationClass(root: root, name: name, classes: trainingClasses)
            }
            mapping.append(index)
        }
        return PhotoFolder(root: root, classes: trainingClasses,
                           photos: folder.photos.map { Photo(relativePath: $0.relativePath, classIndex: mapping[$0.classIndex]) },
                           skipped: folder.skipped)
    }

    public init(root: String, classes: [String], photos: [Photo], skipped: [Skipped]) {
        self.root = root
        self.classes = classes
        self.photos = photos
        self.skipped = skipped
    }

    static func join(_ folder: String, _ name: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }

    private static func list(_ folder: String) throws(PhotoFolderError) -> [DirectoryListing.Entry] {
        do {
            return try DirectoryListing.entries(of: folder)
        } catch {
            throw .unreadableFolder(path: folder, reason: error.reason)
        }
    }
}
