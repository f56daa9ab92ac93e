/// Which photos train and which test: a per-class (stratified), seeded split, or lists read back
/// from a split file.
public struct PhotoSplit: Sendable, Equatable {
    /// Indices into the photos that were split, ascending (so by class, then by file name).
    public var train: [Int]
    public var test: [Int]

    public init(train: [Int], test: [Int]) {
        self.train = train
        self.test = test
    }

    /// How many of a class's `count` photos train: `count × fraction` rounded half away from zero,
    /// kept in `1...count-1` when the class has 2 or more photos (each class is in both parts), all
    /// of them when `fraction` is 1 or the class has one photo.
    public static func trainCount(_ count: Int, fraction: Double) -> Int {
        if fraction >= 1 || count <= 1 { return count }
        let rounded = Int((Double(count) * fraction).rounded(.toNearestOrAwayFromZero))
        return min(max(rounded, 1), count - 1)
    }

    /// Splits each class on its own: the class's photos (in the given order) are shuffled by a
    /// Fisher–Yates pass drawing from SplitMix64 seeded with `seed` (one generator, classes in
    /// index order), and the first `trainCount` go to training. The same seed, fraction and
    /// photos give the same split on every machine.
    public static func stratified(classOf: [Int], classes: Int, trainFraction: Double, seed: UInt64) -> PhotoSplit {
        var members = [[Int]](repeating: [], count: classes)
        for (index, classIndex) in classOf.enumerated() { members[classIndex].append(index) }
        var generator = SplitMix64(seed: seed)
        var train: [Int] = [], test: [Int] = []
        for var indices in members {
            for i in stride(from: indices.count - 1, to: 0, by: -1) {
                indices.swapAt(i, Int(generator.next() % UInt64(i + 1)))
            }
            let count = trainCount(indices.count, fraction: trainFraction)
            train += indices[..<count]
            test += indices[count...]
        }
        return PhotoSplit(train: train.sorted(), test: test.sorted())
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014), as `java.util.SplittableRandom` and NumPy's seeding use it:
/// the seeded generator of the split and of the CLI's synthetic inputs.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The split as text: the tutorial's train.txt and test.txt in one file.
///
///     # wren train: split of <DATA_DIR> (paths relative to it)
///     [train]
///     <relative/path>\t<class name>
///     ...
///     [test]
///     <relative/path>\t<class name>
///
/// Lines starting with `#` and blank lines are ignored when read back. Each listed path must be a
/// usable (decodable) image of DATA_DIR's class folders, in the folder of the class its line names, listed once.
public enum SplitFile {
    public static func text(_ split: PhotoSplit, of folder: PhotoFolder, comment: String) -> String {
        var lines = ["# " + comment, "[train]"]
        for index in split.train { lines.append(line(folder.photos[index], folder)) }
        lines.append("[test]")
        for index in split.test { lines.append(line(folder.photos[index], folder)) }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func line(_ photo: PhotoFolder.Photo, _ folder: PhotoFolder) -> String {
        photo.relativePath + "\t" + folder.classes[photo.classIndex]
    }

    /// Reads a split file's text against `folder` (the scanned DATA_DIR); `path` names it in errors.
    /// `requireTraining`: refuse a file whose [train] part is empty (training needs it; validation reads only [test]).
    public static func parse(_ text: String, path: String, folder: PhotoFolder, requireTraining: Bool = true) throws(PhotoFolderError) -> PhotoSplit {
        var indexOfPath: [String: Int] = [:]
        for (index, photo) in folder.photos.enumerated() { indexOfPath[photo.relativePath] = index }
        var part: Int?  // 0 train, 1 test
        var parts: [[Int]] = [[], []]
        var seen: [Int: Int] = [:]  // photo index → line
        // "\r\n" is one Character in Swift: split on both line ends.
        for (offset, content) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let number = offset + 1
            if content.isEmpty || content.hasPrefix("#") { continue }
            if content == "[train]" { part = 0; continue }
            if content == "[test]" { part = 1; continue }
            guard let part else {
                throw .invalidSplitLine(path: path, line: number, reason: "'\(content)' comes before the first [train] or [test] line")
            }
            let fields = content.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                throw .invalidSplitLine(path: path, line: number, reason: "expected relative/path<TAB>class, got '\(content)'")
            }
            let relative = String(fields[0]), className = String(fields[1])
            guard let index = indexOfPath[relative] else {
                throw .invalidSplitLine(path: path, line: number,
                                        reason: "'\(relative)' is not one of the usable images in the class folders of '\(folder.root)'")
            }
            let actual = folder.classes[folder.photos[index].classIndex]
            guard className == actual else {
                throw .invalidSplitLine(path: path, line: number, reason: "'\(relative)' is listed as class '\(className)' but is in the folder of class '\(actual)'")
            }
            if let first = seen[index] {
                throw .invalidSplitLine(path: path, line: number, reason: "'\(relative)' is already listed on line \(first)")
            }
            seen[index] = number
            parts[part].append(index)
        }
        if requireTraining, parts[0].isEmpty { throw .emptySplit(path: path, part: "training") }
        return PhotoSplit(train: parts[0].sorted(), test: parts[1].sorted())
    }
}
