import ArgumentParser
import Foundation
import WrenConvert
import WrenCore
import WrenHost
import WrenImage
import WrenNetwork
import WrenPhotos

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure what int8 costs: compare a .wren model with its float checkpoint, overall and layer by layer.",
        discussion: """
            Runs DATA through MODEL (int8) and through CHECKPOINT (the float32 reference)
            and reports top-1 agreement, accuracy of both when labels are known, the logit
            error, and for every int8 activation its SQNR (signal-to-quantization-noise
            ratio, dB; about 6 dB per bit, so above ~30 dB is healthy and below ~20 dB is
            where accuracy goes) and cosine similarity against the float activation of the
            same layer, with the worst layers named.

            DATA is a .npy float32 [N,3,32,32] already normalized (labels from --labels
            Y.npy), or a folder with one subfolder of JPEG or PNG images per class, as
            training data is often laid out: labels then come from the folder names
            (matched to the model's labels when it has them, else sorted folder i is class
            i). A folder of images without subfolders is unlabeled. Class folders are read
            as `wren train` reads them: by content, hidden names ignored, other files
            listed as skipped, corrupt images skipped with a warning. Only the test images
            are used, so the float vs int8 comparison is on photos the model did not train
            on: the [test] part of --split-file FILE (from `wren train --save-split`), or
            else the split `wren train` recorded in the reference checkpoint, rebuilt. With
            neither, every image is used. Images are letterboxed to 32x32 and normalized
            with the model's mean/std.

            --json writes the full report for scripts; --chart writes an SVG (per-layer
            SQNR bars and, with labels, the float and int8 confusion matrices) that a
            browser opens.

            Examples:
              wren validate model.wren --reference model.pth --data test_x.npy --labels test_y.npy
              wren validate birds.wren --reference birds.pdparams --data birds/val --chart report.svg
              wren validate birds.wren --reference birds.safetensors --data birds/ --split-file split.txt
              wren validate model.wren --reference model.pth --data test_x.npy --limit 100 --json report.json
            """)

    @Argument(help: "The int8 .wren model to judge.")
    var model: String

    @Option(help: "The float checkpoint the model was converted from (.pth, .pdparams or .safetensors).")
    var reference: String

    @Option(help: "Inputs: a .npy [N,3,32,32] float32 (normalized), a folder of class subfolders of JPEG/PNG images, or a folder of images.")
    var data: String

    @Option(help: "A folder DATA: use only the [test] images of this split file (as `wren train --save-split` writes it; default: the split recorded in the reference).")
    var splitFile: String?

    @Option(help: "Integer class labels (.npy, one per input) for a .npy DATA.")
    var labels: String?

    @Option(help: "Write the report as JSON.")
    var json: String?

    @Option(help: "Write the per-layer SQNR chart (and confusion matrices) as SVG.")
    var chart: String?

    @Option(parsing: .unconditional, help: "Use only the first N inputs.")
    var limit: Int?

    @Option(parsing: .unconditional, help: "How many layers the printed table shows (all are in --json and --chart).")
    var layers: Int?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        for path in [model, reference, data, labels, splitFile].compactMap({ $0 }) where !FileSystem.exists(path) {
            throw ValidationError("\(path): no such file or folder")
        }
        if let layers, layers < 1 { throw ValidationError("--layers must be at least 1") }
        if let json, Inputs.fileExtension(json) != "json" { throw ValidationError("--json writes a .json file (got '\(json)')") }
        if let chart, Inputs.fileExtension(chart) != "svg" { throw ValidationError("--chart writes an .svg file (got '\(chart)')") }
        if splitFile != nil && !FileSystem.isDirectory(data) {
            throw ValidationError("--split-file is for a folder DATA (one subfolder per class)")
        }
        if labels != nil && FileSystem.isDirectory(data) {
            throw ValidationError("--labels is for a .npy DATA; a folder's labels come from its class subfolders")
        }
        let inputs = [model, reference, data, labels, splitFile].compactMap { $0 }
        if let json { try FileSystem.checkOutput(json, option: "--json", inputs: inputs) }
        if let chart { try FileSystem.checkOutput(chart, option: "--chart", inputs: inputs) }
        if let json, let chart, FileSystem.sameFile(json, chart) { throw ValidationError("--json and --chart name the same file") }
    }

    func run() throws {
        let bytes = try FileSystem.readBytes(model)
        guard bytes.starts(with: WrenFormat.magic) else {
            throw CLIError("\(model): not a .wren model (convert the checkpoint first with `wren convert`)")
        }
        let wren = try about(model) { try WrenModel(bytes: bytes) }
        let description = wren.description
        let checkpoint = try about(reference) { try CheckpointLoader.load(path: reference) }
        let network = try about(reference) { try WideResNet(stateDict: checkpoint.tensors) }
        try ReferenceCheck.check(model: description, modelPath: model, reference: network.architecture, referencePath: reference,
                                 referenceSHA256: checkpoint.sha256)

        var inputs = try loadData(description: description, split: SplitRecord(metadata: checkpoint.metadata))
        if let limit, limit < inputs.count {
            let perImage = 3 * description.input.height * description.input.width
            inputs = Validator.Inputs(
                values: Array(inputs.values.prefix(limit * perImage)), count: limit, names: Array(inputs.names.prefix(limit)),
                labels: inputs.labels.map { Array($0.prefix(limit)) })
        }
        let start = Clock.now()
        let report = try Validator.validate(
            model: wren, reference: network, inputs: inputs, modelFile: FileSystem.fileName(model),
            referenceFile: FileSystem.fileName(reference), kernels: try KernelSelection.selectedKernels(),
            progress: { Diagnostics.progress("validating", $0, $1) })
        Diagnostics.note("validated \(inputs.count) inputs in \(Clock.format(Clock.now() - start))")
        print(report.table(layerLimit: layers), terminator: "")

        let protected = [model, reference, data] + [labels].compactMap { $0 }
        if let json {
            try AtomicFile.write(try report.jsonBytes() + [0x0A], to: json, refusingToOverwrite: protected)
            Diagnostics.note("wrote \(json)")
        }
        if let chart {
            try AtomicFile.write(Array(report.svgChart().utf8), to: chart, refusingToOverwrite: protected)
            Diagnostics.note("wrote \(chart)")
        }
    }

    /// DATA as normalized images with names and, when known, labels. A class folder gives its test
    /// split: from --split-file, else rebuilt from the reference's `split` record (`wren train`).
    func loadData(description: ModelDescription, split: SplitRecord?) throws -> Validator.Inputs {
        let (height, width) = (description.input.height, description.input.width)
        let mean = description.input.mean
        let std = description.input.std
        if FileSystem.isDirectory(data) {
            let size = height
            guard width == size, size <= Preprocess.maxLetterboxSize else {
                throw CLIError("\(model) takes \(height)x\(width) inputs, and images are only letterboxed into squares of up to "
                               + "\(Preprocess.maxLetterboxSize) pixels; give --data a .npy [N, 3, \(height), \(width)] instead")
            }
            let folders = try FileSystem.listFolders(data)
            if folders.isEmpty {
                let batch = try Inputs.load(Inputs.expandFolders([data]), height: height, width: width, mean: mean, std: std, model: model)
                return Validator.Inputs(values: batch.values, count: batch.count, names: batch.names, labels: nil)
            }
            let loaded = try ClassFolderData.load(data, size: size, mean: mean, std: std)
            let classes = try about(data) {
                try ClassFolders.classIndices(folders: loaded.folder.classes, modelLabels: description.labels, numClasses: description.numClasses)
            }
            let cache = loaded.cache
            var chosen = Array(0..<cache.count)
            if let (indices, how) = try ClassFolderData.choose(.test, of: loaded, splitFile: splitFile, record: split, recordSource: reference) {
                chosen = indices
                Diagnostics.note("validating on the \(chosen.count) test images \(how)")
            } else {
                Diagnostics.note("validating on all \(cache.count) images of \(data)")
            }
            let subset = cache.subset(chosen)
            let classIndex = classes.map(\.classIndex)  // folder order → the model's class
            return Validator.Inputs(values: subset.values, count: subset.count,
                                    names: subset.photos.map { FileSystem.join(data, $0.relativePath) },
                                    labels: subset.photos.map { classIndex[$0.classIndex] })
        }
        guard Inputs.fileExtension(data) == "npy" else {
            throw CLIError("\(data): DATA must be a .npy batch or a folder of class subfolders of \(ImageFormat.readable) images")
        }
        let batch = try Inputs.load([data], height: height, width: width, mean: mean, std: std, model: model)
        var truth: [Int]?
        if let labels {
            let values = try readLabels(labels, classes: description.numClasses)
            guard values.count == batch.count else {
                throw CLIError("--labels \(labels) holds \(values.count) labels for \(batch.count) inputs in \(data)")
            }
            truth = values.map { Int($0) }
        }
        return Validator.Inputs(values: batch.values, count: batch.count, names: batch.names, labels: truth)
    }
}

extension FileSystem {
    /// Subfolders directly inside `folder`, as full paths, sorted by name (hidden ones skipped).
    static func listFolders(_ folder: String) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted().filter { !$0.hasPrefix(".") }
        return names.map { join(folder, $0) }.filter { isDirectory($0) }
    }

    static func join(_ folder: String, _ name: String) -> String {
        (folder as NSString).appendingPathComponent(name)
    }
}
