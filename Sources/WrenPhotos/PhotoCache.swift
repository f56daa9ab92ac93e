import WrenImage

/// A folder's photos decoded once and kept in memory as the network's input tensors: each image
/// decoded by `ImageDecoder`, letterboxed and normalized by `Preprocess.letterboxNormalize`, the
/// very code `wren run` applies to an image, so training sees what inference will see.
public struct PhotoCache: Sendable {
    /// The photos that decoded, in folder order.
    public let photos: [PhotoFolder.Photo]
    /// CHW float32 per photo, `3 × size × size` values each, concatenated in `photos` order.
    public let values: [Float]
    public let size: Int

    public var count: Int { photos.count }
    public var labels: [Int] { photos.map(\.classIndex) }

    /// A photo that could not be decoded, and the decoder's reason.
    public struct Failure: Sendable, Equatable {
        public var relativePath: String
        public var error: ImageError
    }

    /// Decodes every photo of `folder`. A photo that fails to decode is reported to `warn` and left
    /// out, or, with `strict`, stops the load with `.corruptImage`. Then every class must still
    /// have a photo (`.emptyClass`), unless `allowEmptyClasses` (a --val folder may lack a class).
    public static func load(_ folder: PhotoFolder, size: Int = 32, mean: [Float], std: [Float], strict: Bool,
                            allowEmptyClasses: Bool = false, warn: (Failure) -> Void = { _ in },
                            progress: (Int, Int) -> Void = { _, _ in }) throws(PhotoFolderError) -> PhotoCache {
        var photos: [PhotoFolder.Photo] = []
        var values: [Float] = []
        values.reserveCapacity(folder.photos.count * 3 * size * size)
        var corrupt = [Int](repeating: 0, count: folder.classes.count)
        for (index, photo) in folder.photos.enumerated() {
            let path = folder.path(of: photo)
            do throws(ImageError) {
                let image = try ImageDecoder.decode(path: path)
                values += try Preprocess.letterboxNormalize(image, size: size, mean: mean, std: std)
                photos.append(photo)
            } catch {
                if case .invalidArgument(let why) = error { throw .invalidPreprocessing(why) }
                if strict { throw .corruptImage(path: path, reason: "\(error)") }
                corrupt[photo.classIndex] += 1
                warn(Failure(relativePath: photo.relativePath, error: error))
            }
            progress(index + 1, folder.photos.count)
        }
        if !allowEmptyClasses {
            var counts = [Int](repeating: 0, count: folder.classes.count)
            for photo in photos { counts[photo.classIndex] += 1 }
            if let empty = counts.firstIndex(of: 0) {
                throw .emptyClass(root: folder.root, name: folder.classes[empty], corrupt: corrupt[empty])
            }
        } else if photos.isEmpty {
            throw .noImages(root: folder.root)
        }
        return PhotoCache(photos: photos, values: values, size: size)
    }

    /// The photos at `indices` (into `photos`), with their values.
    public func subset(_ indices: [Int]) -> PhotoCache {
        let perImage = 3 * size * size
        var values: [Float] = []
        values.reserveCapacity(indices.count * perImage)
        for index in indices { values += self.values[(index * perImage)..<((index + 1) * perImage)] }
        return PhotoCache(photos: indices.map { photos[$0] }, values: values, size: size)
    }

    init(photos: [PhotoFolder.Photo], values: [Float], size: Int) {
        self.photos = photos
        self.values = values
        self.size = size
    }
}
