import Foundation
import Testing
import WrenPhotos

/// `wren train DATA_DIR` on fixtures/photos (tools/make_photo_folder.py) as a user runs it: what it
/// finds and skips, the split it prints and saves, its errors, and a short training whose model
/// converts and names the class of a photo.
@Suite("wren train DATA_DIR")
struct PhotoTrainCLITests {
    static let photos = WrenExecutable.fixture("fixtures/photos")
    /// A small, fast network for the fixture (the photo form's default is WRN-28-1).
    static let small = ["--depth", "10", "--widen", "1", "--threads", "2"]

    /// The safetensors `__metadata__` of `path`.
    static func metadata(_ path: String) throws -> [String: String] {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let json = try #require(try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + length))) as? [String: Any])
        return try #require(json["__metadata__"] as? [String: String])
    }

    /// A safetensors file's tensor data: everything after the 8-byte length and the JSON header.
    static func tensorBytes(_ path: String) throws -> Data {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        return bytes.subdata(in: (8 + length)..<bytes.count)
    }

    @Test func reportsClassesSkippedFilesCorruptImagesAndTheSplit() throws {
        let folder = try TemporaryFolder()
        let output = folder.path("m.safetensors")
        let result = try WrenExecutable.run(["train", Self.photos, "-o", output, "--epochs", "1"] + Self.small)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "found 4 classes in \(Self.photos): blue square (13), circle (15), triangle (17), étoile (11); 56 image files")
        #expect(lines.contains("skipped 2 files that are not JPEG or PNG images: notes.txt (not in a class folder), "
                               + "blue square/logo.gif (GIF: only JPEG or PNG is read)"), "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("decoded 55 images of \(Self.photos) once in ") && $0.hasSuffix(
            "(letterboxed to 32x32, mean 0.5,0.5,0.5, std 0.5,0.5,0.5); skipped 1 corrupt") }, "\(result.stdout)")
        #expect(lines.contains("split 0.7 per class (seed 0): 39 train, 16 test (blue square 9/4, circle 11/4, triangle 12/5, étoile 7/3)"))
        #expect(lines.contains { $0.hasPrefix("training WRN-10-1 (4 classes, ") && $0.contains("on 39 images of 32x32, testing on 16; adam lr 0.001")
                && $0.contains("batch 32, augment hflip,vflip, recipe tutorial") }, "\(result.stdout)")
        let warnings = result.stderr.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
        #expect(warnings == ["warning: skipped corrupt JPEG '\(Self.photos)/étoile/broken.jpg': Premature end of JPEG file"], "\(result.stderr)")
        // The first epoch is the best so far by definition, and is marked.
        #expect(lines.contains { $0.hasPrefix("epoch 1/1 ") && $0.hasSuffix("  best") }, "\(result.stdout)")
        let bestOutput = folder.path("m.best.safetensors")
        #expect(lines.contains { $0.hasPrefix("best test accuracy ") && $0.hasSuffix(" at epoch 1 of 1: its weights are in \(bestOutput)") },
                "\(result.stdout)")
        #expect(try Self.metadata(bestOutput)["wren.epoch"] == "1")

        let metadata = try Self.metadata(output)
        #expect(metadata["wren.labels"] == "blue square\ncircle\ntriangle\nétoile")
        #expect(metadata["wren.mean"] == "0.5,0.5,0.5" && metadata["wren.std"] == "0.5,0.5,0.5")
        #expect(metadata["wren.architecture"] == "WRN-10-1" && metadata["wren.recipe"] == "tutorial" && metadata["format"] == "pt")
        // What rebuilds the split for `wren convert` and `wren validate`.
        #expect(metadata["wren.split_fraction"] == "0.7" && metadata["wren.split_seed"] == "0" && metadata["wren.split_images"] == "55")
    }

    @Test func strictStopsAtTheCorruptImage() throws {
        let folder = try TemporaryFolder()
        let output = folder.path("m.safetensors")
        let result = try WrenExecutable.run(["train", Self.photos, "-o", output, "--epochs", "1", "--strict"] + Self.small)
        expectCleanFailure(result, "train --strict")
        let path = "\(Self.photos)/étoile/broken.jpg"
        #expect(result.stderr.contains("Error: cannot use image '\(path)' (--strict): corrupt JPEG '\(path)': Premature end of JPEG file"),
                "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }

    @Test func refusesFoldersThatCannotTrainBeforeTraining() throws {
        let folder = try TemporaryFolder()
        let root = folder.path("data")
        let output = folder.path("m.safetensors")
        let manager = FileManager.default
        try manager.createDirectory(atPath: root, withIntermediateDirectories: true)
        func error() throws -> String {
            let result = try WrenExecutable.run(["train", root, "-o", output, "--epochs", "1"] + Self.small)
            expectCleanFailure(result, "train \(root)")
            #expect(!result.stdout.contains("training WRN"), "trained anyway: \(result.stdout)")
            #expect(!manager.fileExists(atPath: output))
            return result.stderr.split(separator: "\n").first { $0.hasPrefix("Error: ") }.map(String.init) ?? result.stderr
        }
        #expect(try error() == "Error: '\(root)' holds no class folders: put each class's images in a subfolder named after the class, e.g. \(root)/cat/1.jpg")
        try manager.createDirectory(atPath: root + "/cat", withIntermediateDirectories: true)
        try manager.copyItem(atPath: Self.photos + "/circle/circle_000.jpg", toPath: root + "/cat/1.jpg")
        #expect(try error() == "Error: '\(root)' holds a single class folder ('cat'): a classifier needs at least 2 classes")
        try manager.createDirectory(atPath: root + "/dog", withIntermediateDirectories: true)
        #expect(try error() == "Error: class folder '\(root)/dog' holds no usable image: add images or remove the folder")
        try manager.removeItem(atPath: root + "/cat/1.jpg")
        #expect(try error() == "Error: the class folders of '\(root)' hold no JPEG or PNG images")
        let missing = try WrenExecutable.run(["train", folder.path("nowhere"), "-o", output])
        expectCleanFailure(missing, "train nowhere")
        #expect(missing.stderr.contains("Error: '\(folder.path("nowhere"))' is not a folder"), "\(missing.stderr)")
    }

    @Test func refusesOptionsThatDoNotFitTheForm() throws {
        let folder = try TemporaryFolder()
        let output = folder.path("m.safetensors")
        for (arguments, expected) in [
            (["train", Self.photos, "-o", output, "--split", "1.5"], "--split must be in (0, 1] (got 1.5)"),
            (["train", Self.photos, "-o", output, "--val", Self.photos, "--split", "0.5"], "--val DIR is the test set: drop --split, --split-file and --save-split"),
            (["train", Self.photos, "-o", output, "--split-file", folder.path("s.txt"), "--split", "0.5"], "--split-file gives the split: drop --split"),
            (["train", Self.photos, "-o", output, "--augment", "hflip,rotate"], "--augment: invalid training configuration: augmentation 'rotate' is not one of hflip, vflip, crop (or none)"),
            (["train", Self.photos, "-o", output, "--recipe", "fast"], "--recipe must be tutorial or paper (got 'fast')"),
            (["train", Self.photos, "-o", output, "--classes", "3"], "--classes: a photo folder's classes are its subfolders"),
            (["train", Self.photos, "-o", output, "--std", "0.5,0,0.5"], "--std values must be positive (got '0.5,0,0.5')"),
            (["train", "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY, "--depth", "10", "--widen", "1", "-o", output,
              "--mean", "0.4,0.4,0.4"], "--mean is for a photo folder; .npy data is already normalized and split"),
            (["train", "-o", output], "give a photo folder (wren train DATA_DIR -o MODEL.safetensors) or --data X.npy and --labels Y.npy"),
            (["train", Self.photos, "-o", output, "--save-split", Self.photos + "/notes.txt", "--split-file", Self.photos + "/notes.txt"],
             "--save-split \(Self.photos)/notes.txt would overwrite the input \(Self.photos)/notes.txt"),
        ] {
            let result = try WrenExecutable.run(arguments)
            expectCleanFailure(result, arguments.joined(separator: " "))
            #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
        }
    }

    /// --save-split writes the split; --split-file reads it back to the same split, so the same
    /// training; a bad line is refused with its number.
    @Test func savedSplitReadsBackToTheSameSplit() throws {
        let folder = try TemporaryFolder()
        let first = try WrenExecutable.run(["train", Self.photos, "-o", folder.path("a.safetensors"), "--epochs", "1", "--seed", "5",
                                            "--save-split", folder.path("a.txt"), "--log", folder.path("a.jsonl")] + Self.small)
        #expect(first.status == 0, "stderr: \(first.stderr)")
        let saved = try String(contentsOfFile: folder.path("a.txt"), encoding: .utf8)
        let lines = saved.split(separator: "\n")
        #expect(lines.first == "# wren train: split 0.7 per class (seed 5) of \(Self.photos) (paths relative to it)")
        #expect(lines.count == 1 + 1 + 39 + 1 + 16 && lines[1] == "[train]" && lines[41] == "[test]")
        #expect(lines.dropFirst(2).prefix(39).allSatisfy { line in
            let fields = line.split(separator: "\t")
            return fields.count == 2 && fields[0].hasPrefix(fields[1] + "/")
        })

        let second = try WrenExecutable.run(["train", Self.photos, "-o", folder.path("b.safetensors"), "--epochs", "1", "--seed", "5",
                                             "--split-file", folder.path("a.txt"), "--save-split", folder.path("b.txt"),
                                             "--log", folder.path("b.jsonl")] + Self.small)
        #expect(second.status == 0, "stderr: \(second.stderr)")
        #expect(second.stdout.contains("split from \(folder.path("a.txt")): 39 train, 16 test (blue square 9/4, circle 11/4, triangle 12/5, étoile 7/3)"),
                "\(second.stdout)")
        let reread = try String(contentsOfFile: folder.path("b.txt"), encoding: .utf8)
        #expect(reread.split(separator: "\n").dropFirst() == lines.dropFirst())
        // Same split, seed and threads: the same weights (the metadata differs: only a split by --split is recorded).
        #expect(try Self.tensorBytes(folder.path("a.safetensors")) == Self.tensorBytes(folder.path("b.safetensors")))
        #expect(try Self.metadata(folder.path("a.safetensors"))["wren.split_seed"] == "5")
        #expect(try Self.metadata(folder.path("b.safetensors"))["wren.split_seed"] == nil)

        try Data((saved + "circle/missing.jpg\tcircle\n").utf8).write(to: URL(fileURLWithPath: folder.path("bad.txt")))
        let bad = try WrenExecutable.run(["train", Self.photos, "-o", folder.path("c.safetensors"), "--split-file", folder.path("bad.txt")] + Self.small)
        expectCleanFailure(bad, "train --split-file bad.txt")
        #expect(bad.stderr.contains("Error: \(folder.path("bad.txt")):59: 'circle/missing.jpg' is not one of the usable images"), "\(bad.stderr)")
    }

    @Test func valFolderTestsInsteadOfASplit() throws {
        let folder = try TemporaryFolder()
        let result = try WrenExecutable.run(["train", Self.photos, "-o", folder.path("m.safetensors"), "--epochs", "1",
                                             "--val", Self.photos, "--augment", "none"] + Self.small)
        #expect(result.status == 0, "stderr: \(result.stderr)")
        #expect(result.stdout.contains("testing on \(Self.photos): 55 images"), "\(result.stdout)")
        #expect(result.stdout.contains("on 55 images of 32x32, testing on 55;") && result.stdout.contains("augment none"), "\(result.stdout)")
    }

    /// The image `wren run` reads and the image `wren train` trained on are the same tensor: the
    /// logits of a photo equal the logits of the training cache's tensor of it, saved as .npy.
    @Test func runPreprocessesAPhotoExactlyAsTrainingDid() throws {
        let folder = try TemporaryFolder()
        let model = folder.path("m.safetensors")
        let train = try WrenExecutable.run(["train", Self.photos, "-o", model, "--epochs", "1", "--mean", "0.4,0.5,0.6",
                                            "--std", "0.2,0.25,0.3"] + Self.small)
        #expect(train.status == 0, "stderr: \(train.stderr)")
        let photo = Self.photos + "/triangle/IMG_0001.JPG"
        let tensor = try PhotoTensor.fromTrainingCache(Self.photos, "triangle/IMG_0001.JPG", mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3])
        try NpyWriter.write(tensor, shape: [1, 3, 32, 32], to: folder.path("x.npy"))
        // The stored mean/std are used for the photo; the .npy is already normalized.
        let fromPhoto = try WrenExecutable.run(["run", model, photo, "--logits", folder.path("a.npy")])
        let fromArray = try WrenExecutable.run(["run", model, folder.path("x.npy"), "--logits", folder.path("b.npy")])
        #expect(fromPhoto.status == 0 && fromArray.status == 0, "\(fromPhoto.stderr) \(fromArray.stderr)")
        let a = try NpyFloat32(path: folder.path("a.npy")), b = try NpyFloat32(path: folder.path("b.npy"))
        #expect(a.shape == [1, 4] && a.values == b.values, "\(a.values) vs \(b.values)")
    }

    /// The tutorial's workflow on the fixture: train briefly, convert with no --class-names/--mean/--std,
    /// and `wren run` names the class of a photo.
    @Test func trainsConvertsAndNamesTheClassOfAPhoto() throws {
        let folder = try TemporaryFolder()
        let model = folder.path("shapes.safetensors")
        let train = try WrenExecutable.run(["train", Self.photos, "-o", model, "--epochs", "12", "--batch", "8", "--save-split", folder.path("split.txt"),
                                            "--curves", folder.path("curves.svg"), "--log", folder.path("metrics.jsonl")] + Self.small)
        #expect(train.status == 0, "stderr: \(train.stderr)")
        let last = train.stdout.split(separator: "\n").last { $0.hasPrefix("epoch 12/12") }.map(String.init) ?? ""
        let testAccuracy = last.components(separatedBy: "test loss ").dropFirst().first?
            .components(separatedBy: "acc ").dropFirst().first?.split(separator: "%").first.flatMap { Double($0) }
        // Colored shapes are easy: 12 epochs of WRN-10-1 on 39 images get ≥ 14 of the 16 test images (seen: 16/16).
        #expect((testAccuracy ?? 0) >= 87.5, "last epoch: \(last)")
        try TrainCLITests.checkCurves(folder.path("curves.svg"), epochs: 12)
        let log = try String(contentsOfFile: folder.path("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(log.count == 12)

        let wren = folder.path("shapes.wren")
        let convert = try WrenExecutable.run(["convert", model, "-o", wren, "--calibration", Self.photos])
        #expect(convert.status == 0, "stderr: \(convert.stderr)")
        #expect(convert.stderr.contains("using the mean, std, input size, class names stored in \(model) by wren train"), "\(convert.stderr)")
        // Only training images calibrate: the split wren train recorded, rebuilt (all 39 of them: fewer than 512).
        #expect(convert.stderr.contains("calibrating on all 39 training images (split 0.7 per class, seed 0, recorded in \(model)) of \(Self.photos); "
                                        + "skipped 1 corrupt image and 2 files that are not JPEG or PNG images"), "\(convert.stderr)")
        let sampled = try WrenExecutable.run(["convert", model, "-o", folder.path("sampled.wren"), "--calibration", Self.photos,
                                              "--calibration-samples", "10"])
        #expect(sampled.stderr.contains("calibrating on 10 (a seeded sample) of the 39 training images (split 0.7 per class, seed 0, "
                                        + "recorded in \(model)) of \(Self.photos)"), "\(sampled.stderr)")
        let inspect = try WrenExecutable.run(["inspect", wren])
        #expect(inspect.stdout.contains("étoile"), "\(inspect.stdout)")
        // wren validate on the photo folder: the test split the checkpoint records, or the [test] part of the
        // saved split file (the same 16 photos); all usable photos when the reference records no split.
        let recorded = try WrenExecutable.run(["validate", wren, "--reference", model, "--data", Self.photos, "--json", folder.path("recorded.json")])
        #expect(recorded.status == 0, "stderr: \(recorded.stderr)")
        #expect(recorded.stderr.contains("warning: skipped corrupt JPEG '\(Self.photos)/étoile/broken.jpg'"), "\(recorded.stderr)")
        #expect(recorded.stderr.contains("skipped 2 files that are not JPEG or PNG images: notes.txt (not in a class folder), blue square/logo.gif"),
                "\(recorded.stderr)")
        #expect(recorded.stderr.contains("validating on the 16 test images (split 0.7 per class, seed 0, recorded in \(model))"), "\(recorded.stderr)")
        let test = try WrenExecutable.run(["validate", wren, "--reference", model, "--data", Self.photos, "--split-file", folder.path("split.txt"),
                                           "--json", folder.path("test.json")])
        #expect(test.status == 0, "stderr: \(test.stderr)")
        #expect(test.stderr.contains("validating on the 16 test images (listed in \(folder.path("split.txt")))"), "\(test.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path("test.json"))) == Data(contentsOf: URL(fileURLWithPath: folder.path("recorded.json"))))
        let testReport = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder.path("test.json")))) as? [String: Any])
        let report = try #require(testReport["report"] as? [String: Any])
        #expect(report["imageCount"] as? Int == 16)
        // The float reference (another implementation than training's) gets what training printed for the last
        // epoch's test split, to one borderline image; int8 stays within one image of float.
        let floatCorrect = try #require(report["floatCorrect"] as? Int), int8Correct = try #require(report["int8Correct"] as? Int)
        #expect(abs(Double(floatCorrect) - (testAccuracy ?? 0) * 16 / 100) <= 1, "float \(floatCorrect)/16 vs training's \(testAccuracy ?? -1)%")
        #expect(abs(int8Correct - floatCorrect) <= 1, "int8 \(int8Correct)/16, float \(floatCorrect)/16")

        let run = try WrenExecutable.run(["run", wren, Self.photos + "/étoile/star_001.jpg", Self.photos + "/circle/scan_0007"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.contains("\(Self.photos)/étoile/star_001.jpg: étoile ("), "\(run.stdout)")
        #expect(run.stdout.contains("\(Self.photos)/circle/scan_0007: circle ("), "\(run.stdout)")
    }

    /// --recipe paper: the WRN paper's optimizer, schedule at 30/60/80% of the epochs and dropout;
    /// an explicit option wins over the recipe. The .npy form shares --augment (default none there).
    @Test func recipesAndAugmentationReachTheTrainer() throws {
        let folder = try TemporaryFolder()
        let paper = try WrenExecutable.run(["train", Self.photos, "-o", folder.path("p.safetensors"), "--recipe", "paper", "--epochs", "10"] + Self.small)
        #expect(paper.status == 0, "stderr: \(paper.stderr)")
        #expect(paper.stdout.contains("sgd lr 0.1, schedule multistep:3,6,8:0.2, batch 32, dropout 0.3, augment hflip,vflip, recipe paper"),
                "\(paper.stdout)")
        #expect(paper.stdout.contains("epoch 4/10  lr 0.02 ") && paper.stdout.contains("epoch 9/10  lr 0.0008 "), "\(paper.stdout)")
        #expect(try Self.metadata(folder.path("p.safetensors"))["wren.recipe"] == "paper")
        let overridden = try WrenExecutable.run(["train", Self.photos, "-o", folder.path("o.safetensors"), "--recipe", "paper", "--epochs", "1",
                                                 "--lr", "0.05", "--dropout", "0", "--augment", "crop"] + Self.small)
        #expect(overridden.stdout.contains("sgd lr 0.05, schedule constant, batch 32, augment crop, recipe paper"), "\(overridden.stdout)")
        let arrays = try WrenExecutable.run(["train", "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY, "--epochs", "1",
                                             "-o", folder.path("n.safetensors"), "--augment", "hflip,crop"] + Self.small)
        #expect(arrays.status == 0, "stderr: \(arrays.stderr)")
        #expect(arrays.stdout.contains("sgd lr 0.1, schedule constant, batch 64, augment hflip,crop, recipe none"), "\(arrays.stdout)")
        let plain = try WrenExecutable.run(["train", "--data", CLIFixtures.digitsTestX, "--labels", CLIFixtures.digitsTestY, "--epochs", "1",
                                            "-o", folder.path("m.safetensors")] + Self.small)
        #expect(plain.stdout.contains("batch 64, augment none, recipe none"), "\(plain.stdout)")
    }

    @Test func helpTeachesThePhotoForm() throws {
        let help = try WrenExecutable.run(["train", "--help"])
        #expect(help.status == 0)
        for text in ["wren train birds/ -o birds.safetensors", "--split", "--val", "--save-split", "--split-file", "--augment",
                     "--recipe", "--strict", "one subfolder of"] {
            #expect(help.stdout.contains(text), "'\(text)' missing from help:\n\(help.stdout)")
        }
    }
}

/// The tensor `wren train` trains on for one photo: its entry in the decoded cache (WrenPhotos,
/// the module the CLI uses), not a second implementation.
enum PhotoTensor {
    static func fromTrainingCache(_ root: String, _ relativePath: String, mean: [Float], std: [Float]) throws -> [Float] {
        let cache = try PhotoCache.load(try PhotoFolder.scan(root), mean: mean, std: std, strict: false)
        let index = try #require(cache.photos.firstIndex { $0.relativePath == relativePath })
        return Array(cache.values[(index * 3072)..<((index + 1) * 3072)])
    }
}

/// A float32 C-order .npy, version 1.0.
enum NpyWriter {
    static func write(_ values: [Float], shape: [Int], to path: String) throws {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}
