import WrenImage
import WrenPhotos

/// A folder of class subfolders read by `wren convert --calibration` and `wren validate --data`
/// the way `wren train` reads it (by content, hidden names ignored, other files listed once,
/// corrupt images skipped with a warning), and the part of its training split a command needs.
enum ClassFolderData {
    enum Part: String {
        case train, test
    }

    struct Loaded {
        var folder: PhotoFolder
        /// The photos that decoded, letterboxed and normalized.
        var cache: PhotoCache
        /// Photos that did not decode.
        var corrupt: Int

        /// "skipped 1 corrupt image and 2 files that are not JPEG or PNG images", or nil.
        var skippedSummary: String? {
            var parts: [String] = []
            if corrupt > 0 { parts.append("\(corrupt) corrupt image\(corrupt == 1 ? "" : "s")") }
            let other = folder.skipped.count
            if other > 0 { parts.append("\(other) file\(other == 1 ? "" : "s") that \(other == 1 ? "is" : "are") not \(ImageFormat.readable) images") }
            return parts.isEmpty ? nil : "skipped " + parts.joined(separator: " and ")
        }
    }

    static func load(_ root: String, size: Int, mean: [Float], std: [Float]) throws -> Loaded {
        let folder = try PhotoFolder.scan(root, minimumClasses: 1)
        if let listing = folder.skippedListing { Diagnostics.note(listing) }
        var corrupt = 0
        let cache = try PhotoCache.load(folder, size: size, mean: mean, std: std, strict: false, allowEmptyClasses: true,
                                        warn: { corrupt += 1; Diagnostics.note("warning: skipped \($0.error)") })
        return Loaded(folder: folder, cache: cache, corrupt: corrupt)
    }

    /// Indices into `loaded.cache` of the split's `part`, and where the split came from, in
    /// brackets: the
    /// split file when one is given, else the split `record` (from the checkpoint `recordSource`)
    /// rebuilt; nil when neither applies (then the caller uses every photo, and says so).
    static func choose(_ part: Part, of loaded: Loaded, splitFile: String?, record: SplitRecord?,
                       recordSource: String) throws -> (indices: [Int], how: String)? {
        if let splitFile {
            let usable = PhotoFolder(root: loaded.folder.root, classes: loaded.folder.classes, photos: loaded.cache.photos, skipped: [])
            let text = try about(splitFile) { try FileSystem.readText(splitFile) }
            let split = try SplitFile.parse(text, path: splitFile, folder: usable, requireTraining: part == .train)
            let indices = part == .train ? split.train : split.test
            guard !indices.isEmpty else { throw CLIError("\(splitFile): the [\(part.rawValue)] part lists no image") }
            return (indices, "(listed in \(splitFile))")
        }
        guard let record else { return nil }
        guard let split = record.rebuild(over: loaded.cache, classes: loaded.folder.classes.count) else {
            Diagnostics.note("warning: \(recordSource) was trained on \(record.imageCount) usable images, \(loaded.folder.root) now has "
                             + "\(loaded.cache.count): the training split cannot be rebuilt, so every image is used (pass --split-file)")
            return nil
        }
        let indices = part == .train ? split.train : split.test
        guard !indices.isEmpty else { return nil }
        return (indices, "(\(record.summary), recorded in \(recordSource))")
    }
}
