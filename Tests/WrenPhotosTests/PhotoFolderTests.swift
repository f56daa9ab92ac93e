import Foundation
import Testing
import WrenImage
@testable import WrenPhotos

/// fixtures/photos (tools/make_photo_folder.py): 4 classes, the clutter of a real folder.
enum PhotoFixture {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { url.deleteLastPathComponent() }
        return url.appendingPathComponent("fixtures/photos").path
    }()
    static let classes = ["blue square", "circle", "triangle", "étoile"]
}

/// A fresh folder, removed when released; `file` and `folder` build a tree in it.
final class ScratchFolder {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("wren-photos-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func folder(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }
    func file(_ relative: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path + "/" + relative))
    }
    func copy(_ source: String, to relative: String) throws {
        try FileManager.default.copyItem(atPath: source, toPath: path + "/" + relative)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("photo folders")
struct PhotoFolderTests {
    @Test func discoversClassesByFolderAndImagesByContent() throws {
        let folder = try PhotoFolder.scan(PhotoFixture.root)
        #expect(folder.classes == PhotoFixture.classes)
        // blue square: 12 + extra.png; circle: 14 + the extensionless scan_0007; triangle: 16 + IMG_0001.JPG;
        // étoile: 10 + broken.jpg (a JPEG until decoded).
        #expect(folder.countsByClass == [13, 15, 17, 11])
        #expect(folder.photos.contains(PhotoFolder.Photo(relativePath: "blue square/extra.png", classIndex: 0)))
        #expect(folder.photos.contains(PhotoFolder.Photo(relativePath: "circle/scan_0007", classIndex: 1)))
        #expect(folder.photos.contains(PhotoFolder.Photo(relativePath: "triangle/IMG_0001.JPG", classIndex: 2)))
        #expect(folder.skipped == [
            PhotoFolder.Skipped(relativePath: "notes.txt", reason: "not in a class folder"),
            PhotoFolder.Skipped(relativePath: "blue square/logo.gif", reason: "GIF: only JPEG or PNG is read"),
        ])
        // Hidden files and folders (present in the fixture) are neither classes, photos nor skipped files.
        #expect(FileManager.default.fileExists(atPath: PhotoFixture.root + "/.ipynb_checkpoints/circle_000-checkpoint.jpg"))
        #expect(FileManager.default.fileExists(atPath: PhotoFixture.root + "/circle/.DS_Store"))
        #expect(!folder.photos.contains { $0.relativePath.contains("/.") || $0.relativePath.hasPrefix(".") })
        #expect(!folder.classes.contains(".ipynb_checkpoints"))
    }

    @Test func decodesOnceWithWarningsOrStopsWhenStrict() throws {
        let folder = try PhotoFolder.scan(PhotoFixture.root)
        var warnings: [PhotoCache.Failure] = []
        let cache = try PhotoCache.load(folder, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], strict: false, warn: { warnings.append($0) })
        #expect(cache.count == 55)
        #expect(cache.values.count == 55 * 3 * 32 * 32)
        #expect(warnings.map(\.relativePath) == ["étoile/broken.jpg"])
        guard case .corrupt(.jpeg, let source, _)? = warnings.first?.error else {
            Issue.record("expected a corrupt-JPEG error, got \(String(describing: warnings.first))")
            return
        }
        #expect(source == PhotoFixture.root + "/étoile/broken.jpg")
        #expect(!cache.photos.contains { $0.relativePath == "étoile/broken.jpg" })

        #expect {
            _ = try PhotoCache.load(folder, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], strict: true)
        } throws: { error in
            guard case PhotoFolderError.corruptImage(let path, let reason)? = error as? PhotoFolderError else { return false }
            return path == PhotoFixture.root + "/étoile/broken.jpg" && reason.hasPrefix("corrupt JPEG '\(path)': ")
        }
    }

    /// The cached tensor of a photo is exactly what WrenImage's decode + letterbox gives (the code `wren run` uses).
    @Test func cachedValuesAreTheInferencePreprocessing() throws {
        let folder = try PhotoFolder.scan(PhotoFixture.root)
        let mean: [Float] = [0.4, 0.5, 0.6], std: [Float] = [0.2, 0.25, 0.3]
        let cache = try PhotoCache.load(folder, mean: mean, std: std, strict: false)
        for index in [0, 20, 54] {
            let photo = cache.photos[index]
            let expected = try Preprocess.letterboxNormalize(try ImageDecoder.decode(path: folder.path(of: photo)), size: 32, mean: mean, std: std)
            #expect(Array(cache.values[(index * 3072)..<((index + 1) * 3072)]) == expected, "\(photo.relativePath)")
        }
        let subset = cache.subset([54, 0])
        #expect(subset.photos == [cache.photos[54], cache.photos[0]])
        #expect(Array(subset.values[0..<3072]) == Array(cache.values[(54 * 3072)..<(55 * 3072)]))
    }

    @Test func refusesFoldersThatCannotTrainWithClearErrors() throws {
        let scratch = try ScratchFolder()
        let root = scratch.path
        let jpeg = PhotoFixture.root + "/circle/circle_000.jpg"
        func scanError() -> String? {
            do { _ = try PhotoFolder.scan(root); return nil } catch { return "\(error)" }
        }
        #expect(scanError() == "'\(root)' holds no class folders: put each class's images in a subfolder named after the class, e.g. \(root)/cat/1.jpg")
        try scratch.folder(".ipynb_checkpoints")
        try scratch.file("notes.txt", Array("hello".utf8))
        #expect(scanError() == "'\(root)' holds no class folders: put each class's images in a subfolder named after the class, e.g. \(root)/cat/1.jpg")
        try scratch.folder("cat")
        try scratch.copy(jpeg, to: "cat/1.jpg")
        #expect(scanError() == "'\(root)' holds a single class folder ('cat'): a classifier needs at least 2 classes")
        try scratch.folder("dog")
        try scratch.file("dog/readme.txt", Array("no photos yet".utf8))
        // Two classes, one of them empty.
        let folder = try PhotoFolder.scan(root)
        #expect(folder.countsByClass == [1, 0])
        #expect(throws: PhotoFolderError.emptyClass(root: root, name: "dog", corrupt: 0)) {
            try PhotoCache.load(folder, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], strict: false)
        }
        #expect("\(PhotoFolderError.emptyClass(root: root, name: "dog", corrupt: 0))"
            == "class folder '\(root)/dog' holds no usable image: add images or remove the folder")
        // A class whose only image is corrupt is empty too, and says why.
        try scratch.file("dog/broken.jpg", [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10])
        #expect(throws: PhotoFolderError.emptyClass(root: root, name: "dog", corrupt: 1)) {
            try PhotoCache.load(try PhotoFolder.scan(root), mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], strict: false)
        }
        #expect("\(PhotoFolderError.emptyClass(root: root, name: "dog", corrupt: 1))"
            == "class folder '\(root)/dog' holds no usable image (its 1 image file is corrupt): add images or remove the folder")
        // No image anywhere.
        try FileManager.default.removeItem(atPath: root + "/cat/1.jpg")
        try FileManager.default.removeItem(atPath: root + "/dog/broken.jpg")
        #expect(scanError() == "the class folders of '\(root)' hold no JPEG or PNG images")
        #expect("\(PhotoFolderError.notAFolder(path: root + "/none"))"
            == "'\(root)/none' is not a folder (the photo form is `wren train DATA_DIR`, one subfolder of images per class)")
        #expect(throws: PhotoFolderError.notAFolder(path: root + "/none")) { try PhotoFolder.scan(root + "/none") }
    }

    @Test func validationFolderTakesTheTrainingClassIndices() throws {
        let scratch = try ScratchFolder()
        try scratch.folder("circle")
        try scratch.folder("étoile")
        try scratch.copy(PhotoFixture.root + "/circle/circle_000.jpg", to: "circle/a.jpg")
        try scratch.copy(PhotoFixture.root + "/étoile/star_000.jpg", to: "étoile/b.jpg")
        let folder = try PhotoFolder.scan(scratch.path, classes: PhotoFixture.classes)
        #expect(folder.photos.map(\.classIndex) == [1, 3])
        try scratch.folder("dog")
        try scratch.copy(PhotoFixture.root + "/circle/circle_001.jpg", to: "dog/c.jpg")
        #expect(throws: PhotoFolderError.unknownValidationClass(root: scratch.path, name: "dog", classes: PhotoFixture.classes)) {
            try PhotoFolder.scan(scratch.path, classes: PhotoFixture.classes)
        }
    }
}

@Suite("stratified split and split files")
struct PhotoSplitTests {
    @Test(arguments: [
        (1, 0.7, 1), (2, 0.7, 1), (3, 0.5, 2), (10, 0.7, 7), (12, 0.7, 8), (15, 0.7, 11), (17, 0.7, 12),
        (10, 0.99, 9), (10, 1.0, 10), (5, 0.01, 1),
    ])
    func trainCounts(count: Int, fraction: Double, expected: Int) {
        #expect(PhotoSplit.trainCount(count, fraction: fraction) == expected)
    }

    static func fixtureCache() throws -> PhotoCache {
        try PhotoCache.load(try PhotoFolder.scan(PhotoFixture.root), mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], strict: false)
    }

    @Test func splitsEachClassOnItsOwnAndDependsOnlyOnTheSeed() throws {
        let labels = try Self.fixtureCache().labels
        #expect(labels.count == 55)
        let split = PhotoSplit.stratified(classOf: labels, classes: 4, trainFraction: 0.7, seed: 0)
        func perClass(_ indices: [Int]) -> [Int] { (0..<4).map { c in indices.filter { labels[$0] == c }.count } }
        #expect(perClass(split.train) == [9, 11, 12, 7])
        #expect(perClass(split.test) == [4, 4, 5, 3])
        #expect(Set(split.train).isDisjoint(with: split.test))
        #expect((split.train + split.test).sorted() == Array(0..<55))
        #expect(split == PhotoSplit.stratified(classOf: labels, classes: 4, trainFraction: 0.7, seed: 0))
        let other = PhotoSplit.stratified(classOf: labels, classes: 4, trainFraction: 0.7, seed: 1)
        #expect(other != split)
        #expect(perClass(other.train) == [9, 11, 12, 7])
        // Pinned: the split is part of what a seed reproduces across machines and versions
        // (`python3 tools/photo_split_reference.py 13,15,17,10 0.7 0`).
        #expect(split.test == [0, 1, 4, 9, 14, 16, 17, 20, 28, 32, 35, 36, 41, 45, 48, 54])
    }

    @Test func splitFileRoundTripsAndRefusesBadLines() throws {
        let cache = try Self.fixtureCache()
        let folder = PhotoFolder(root: PhotoFixture.root, classes: PhotoFixture.classes, photos: cache.photos, skipped: [])
        let split = PhotoSplit.stratified(classOf: cache.labels, classes: 4, trainFraction: 0.7, seed: 3)
        let text = SplitFile.text(split, of: folder, comment: "test")
        let lines = text.split(separator: "\n")
        #expect(lines.count == 1 + 1 + 39 + 1 + 16)
        #expect(lines[0] == "# test" && lines[1] == "[train]" && lines[41] == "[test]")
        #expect(lines.dropFirst(2).prefix(39).allSatisfy { $0.split(separator: "\t").count == 2 })
        #expect(try SplitFile.parse(text, path: "s.txt", folder: folder) == split)
        #expect(try SplitFile.parse(text.replacingOccurrences(of: "\n", with: "\r\n"), path: "s.txt", folder: folder) == split)

        func failure(_ text: String) -> String? {
            do { _ = try SplitFile.parse(text, path: "s.txt", folder: folder); return nil } catch { return "\(error)" }
        }
        #expect(failure("circle/circle_000.jpg\tcircle\n") == "s.txt:1: 'circle/circle_000.jpg\tcircle' comes before the first [train] or [test] line")
        #expect(failure("[train]\ncircle/circle_000.jpg circle\n") == "s.txt:2: expected relative/path<TAB>class, got 'circle/circle_000.jpg circle'")
        #expect(failure("# c\n[train]\ncircle/nope.jpg\tcircle\n")
            == "s.txt:3: 'circle/nope.jpg' is not one of the usable images in the class folders of '\(PhotoFixture.root)'")
        #expect(failure("[train]\nétoile/broken.jpg\tétoile\n")
            == "s.txt:2: 'étoile/broken.jpg' is not one of the usable images in the class folders of '\(PhotoFixture.root)'")
        #expect(failure("[train]\ncircle/circle_000.jpg\ttriangle\n")
            == "s.txt:2: 'circle/circle_000.jpg' is listed as class 'triangle' but is in the folder of class 'circle'")
        #expect(failure("[train]\ncircle/circle_000.jpg\tcircle\n[test]\ncircle/circle_000.jpg\tcircle\n")
            == "s.txt:4: 'circle/circle_000.jpg' is already listed on line 2")
        #expect(failure("[test]\ncircle/circle_000.jpg\tcircle\n") == "split file 's.txt' lists no training image")
    }
}
