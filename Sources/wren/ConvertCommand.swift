import ArgumentParser
import WrenConvert
import WrenCore
import WrenHost
import WrenImage
import WrenPhotos

#if canImport(Glibc)
import Glibc
#endif

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a trained WRN checkpoint into an int8 .wren file.",
        discussion: reflowed("""
            Reads a PyTorch checkpoint (torch.save of a state_dict, of {"state_dict": ...}
            or {"model": ...}; "module." prefixes are accepted), infers depth, widen factor
            and classes from its tensors, folds each batch-norm that follows a convolution
            into it, calibrates activation ranges by running the float model on CALIB,
            quantizes weights to int8 per output channel and writes OUT.wren (to a
            temporary file, then renamed; an input is never overwritten). PaddlePaddle
            .pdparams and .safetensors checkpoints are read too (Paddle names and layouts
            are mapped), and ONNX models of a WRN as torch.onnx.export or paddle2onnx
            write them (matched by graph topology; bn2 may be folded into conv1;
            external data must sit in the model's directory). The format is recognised
            from the content, not the extension.

            --calibration-method chooses the activation ranges: minmax (the full observed
            range, the default), percentile[:P] (clip the outer (100-P)% on each side, P =
            99.99 by default), entropy (the KL-divergence threshold search of TensorRT and
            ncnn) or mse (the clipping with the least squared int8 error, as TensorRT's and
            NNCF's MSE calibrators). All but minmax go over CALIB twice. --threads sets how
            many threads calibrate (default: all). --weights per-tensor uses one weight
            scale per convolution instead of one per output channel, for comparison. The
            float classifier's bias is then corrected by the int8 model's mean logit error
            on CALIB (the constant part of the rounding error, which global pooling does
            not average away); --no-bias-correction keeps it as trained. Check the result
            with `wren validate`.

            Mixed precision, the last resort: --keep-wider NAME,... stores those activation
            tensors (names as `wren validate` prints them, e.g. block3.layer.1.relu1) as
            int16 instead of int8 (symmetric, zero point 0, scale = max|range|/32767, as
            TFLite's 16x8 scheme), and the layers that read or write them run with 16-bit
            activations (int8 weights, int64 accumulators), still integer-only.
            --auto-keep-wider K keeps the K tensors that `wren validate` ranks worst
            (lowest SQNR) on CALIB: it converts once in int8, ranks, then quantizes again.
            Both may be combined. Each kept tensor costs 2x its int8 memory, and its layers
            run on portable kernels instead of the SIMD int8 ones; such a file is .wren
            2.0, which readers of 1.x refuse (every other file stays 1.0). The metadata
            records the kept tensors (int16_activations) and how they were chosen
            (int16_selection).

            CALIB is a .npy float32 [N,3,H,W] of inputs already normalized the way the
            model was trained (used whole), a folder of JPEG/PNG images, or a `wren train`
            photo folder (one subfolder per class, read by content, corrupt images skipped
            with a warning). From a folder, --calibration-samples N (default 512) images
            are drawn, seeded; from a photo folder only training images: the [train] part
            of --split-file, or the split `wren train` recorded in the checkpoint, rebuilt
            (else every image, and Wren says so). Images are letterboxed on black to the
            input size (--input-size, default 32), then normalized with --mean/--std.
            Use a few hundred representative training images. Without --calibration,
            Wren calibrates on synthetic noise images and warns: accuracy will suffer. A checkpoint written by `wren train` from photos
            carries its class names, mean, std and input size; they are used unless
            --class-names/--mean/--std/--input-size are given. A WRN is fully
            convolutional up to its global average pool, so the same weights take any
            input size whose sides are multiples of 4 (WRNs are trained at 32x32 on CIFAR
            and SVHN, 64x64 on downsampled ImageNet, 96x96 on STL-10).

            Examples:
              wren convert wrn.pth -o wrn.wren --calibration calib_x.npy --class-names labels.txt
              wren convert wrn.pth -o wrn.wren --calibration images/ --mean 0.49,0.48,0.45 --std 0.25,0.24,0.26
              wren convert birds.pdparams -o birds.wren --calibration calib/ --calibration-method entropy
              wren convert wrn.safetensors -o wrn.wren --calibration calib_x.npy --calibration-method percentile:99.9
              wren convert wrn.pth -o wrn.wren --calibration calib_x.npy --auto-keep-wider 2
              wren convert wrn.pth -o wrn.wren --calibration calib_x.npy --keep-wider block3.layer.1.relu1,block3.layer.1
            """))

    @Argument(help: "Checkpoint to convert: PyTorch (.pth / .pt), PaddlePaddle (.pdparams), .safetensors or ONNX (.onnx).")
    var checkpoint: String

    @Option(name: .shortAndLong, help: "Where to write the .wren file.")
    var output: String

    @Option(help: "Calibration inputs: a .npy [N,3,H,W] float32 (normalized), a folder of JPEG/PNG images or of class folders.")
    var calibration: String?

    @Option(name: .customLong("input-size"),
            help: "The model's input size: H (square) or HxW, multiples of 4, e.g. 64 or 96x72 (default: the size `wren train` stored in the checkpoint, else 32). Images are letterboxed to it (square sizes only).")
    var inputSize: String?

    @Option(help: "At most this many images of a --calibration folder, a seeded sample (0: all; a .npy is used whole).")
    var calibrationSamples: Int = 512

    @Option(help: "A --calibration photo folder: calibrate on the [train] images of this split file (`wren train --save-split`).")
    var splitFile: String?

    @Option(help: "Per-channel mean the model was trained with (comma-separated, 3 values; default: the checkpoint's metadata from `wren train`, else 0.5,0.5,0.5).")
    var mean: String?

    @Option(help: "Per-channel standard deviation the model was trained with (3 values; default: the checkpoint's metadata, else 0.5,0.5,0.5).")
    var std: String?

    @Option(help: "Class names: a text file with one name per line, or a comma-separated list (default: the names `wren train` stored in the checkpoint).")
    var classNames: String?

    /// The old spelling of --class-names (run, validate and train take --labels as class indices).
    @Option(help: .hidden)
    var labels: String?

    /// --class-names, or its old spelling.
    var classNamesArgument: String? { classNames ?? labels }

    @Option(help: "How activation ranges are chosen: minmax, percentile[:P] (e.g. percentile:99.99), entropy or mse.")
    var calibrationMethod: String = "minmax"

    @Option(help: "Weight quantization: per-channel (one scale per output channel) or per-tensor.")
    var weights: String = "per-channel"

    @Flag(help: "Keep the classifier's bias as trained (no correction for the int8 model's mean logit error).")
    var noBiasCorrection = false

    @Option(parsing: .unconditional, help: "Threads for calibration and the int8 pass (default: the machine's processors; the file does not depend on it).")
    var threads: Int?

    @OptionGroup(title: "Checkpoint limits")
    var importLimits: ImportLimitOptions

    @Option(help: "Activation tensors to store as int16 instead of int8 (comma-separated names, as `wren validate` lists them).")
    var keepWider: String?

    @Option(parsing: .unconditional, help: "Also store as int16 the K activation tensors with the lowest int8 SQNR on the calibration inputs.")
    var autoKeepWider: Int = 0

    func validate() throws {
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be in 1...256") }
        guard Inputs.fileExtension(output) == "wren" else {
            throw ValidationError("the output file should end in .wren (got '\(output)')")
        }
        if let mean { _ = try parseTriple(mean, name: "--mean") }
        if let inputSize { _ = try InputSize(parsing: inputSize, option: "--input-size") }
        if let std {
            let deviations = try parseTriple(std, name: "--std")
            guard deviations.allSatisfy({ $0 > 0 }) else { throw ValidationError("--std values must be positive (got '\(std)')") }
        }
        do {
            _ = try CalibrationMethod(parsing: calibrationMethod)
            _ = try WeightGranularity(parsing: weights)
        } catch {
            throw ValidationError("\(error)")
        }
        guard calibrationSamples >= 0 else { throw ValidationError("--calibration-samples takes a count >= 0 (got \(calibrationSamples))") }
        if splitFile != nil, calibration.map(FileSystem.isDirectory) != true {
            throw ValidationError("--split-file is for a --calibration photo folder (one subfolder per class)")
        }
        guard autoKeepWider >= 0 else { throw ValidationError("--auto-keep-wider takes a count >= 0 (got \(autoKeepWider))") }
        if let keepWider, keptWiderNames(keepWider).isEmpty {
            throw ValidationError("--keep-wider takes comma-separated activation names, e.g. block3.layer.1.relu1 (see `wren validate`)")
        }
        if labels != nil {
            if classNames != nil { throw ValidationError("--labels is the old spelling of --class-names: give one of them") }
            Diagnostics.note("note: convert's --labels is now --class-names (the old spelling still works)")
        }
        try FileSystem.checkOutput(output, option: "-o", inputs: [checkpoint, calibration, classNamesArgument, splitFile].compactMap { $0 })
    }

    func run() throws {
        let start = Clock.now()
        var options = ConversionOptions()
        // Said before the (possibly long) load, so the user can stop and pass real samples.
        if calibration == nil {
            Diagnostics.note("warning: no --calibration given; calibrating on 64 synthetic noise images. Int8 accuracy will suffer: pass a few hundred real samples.")
        }
        let loaded = try about(checkpoint) { try CheckpointLoader.load(path: checkpoint, limits: importLimits.limits) }
        // `wren train` stores what the model was trained with; explicit options win.
        let stored = loaded.metadata
        var fromMetadata: [String] = []
        if let mean {
            options.mean = try parseTriple(mean, name: "--mean")
        } else if let value = TrainingMetadata.triple(stored, TrainingMetadata.mean) {
            options.mean = value
            fromMetadata.append("mean")
        } else {
            options.mean = [0.5, 0.5, 0.5]
        }
        if let std {
            options.std = try parseTriple(std, name: "--std")
        } else if let value = TrainingMetadata.triple(stored, TrainingMetadata.std), value.allSatisfy({ $0 > 0 }) {
            options.std = value
            fromMetadata.append("std")
        } else {
            options.std = [0.5, 0.5, 0.5]
        }
        let size: InputSize
        if let inputSize {
            size = try InputSize(parsing: inputSize, option: "--input-size")
        } else if let value = InputSize.stored(in: stored) {
            size = value
            fromMetadata.append("input size")
        } else {
            size = .standard
        }
        if let classNamesArgument {
            options.labels = try parseClassNames(classNamesArgument)
        } else if let names = TrainingMetadata.labels(stored) {
            options.labels = names
            fromMetadata.append("class names")
        }
        if !fromMetadata.isEmpty {
            Diagnostics.note("using the \(fromMetadata.joined(separator: ", ")) stored in \(checkpoint) by wren train")
        }
        options.calibrationMethod = try CalibrationMethod(parsing: calibrationMethod)
        options.weightGranularity = try WeightGranularity(parsing: weights)
        options.biasCorrection = !noBiasCorrection
        options.producer = "wren \(wrenVersion)"
        options.kernels = try KernelSelection.selectedKernels()
        let pool = ThreadPool(workers: threads ?? ThreadPool.processorCount)
        options.parallelism = pool.parallelism
        options.keepWider = keepWider.map(keptWiderNames) ?? []
        options.autoKeepWider = autoKeepWider

        var batch: InputBatch
        if let calibration {
            let limit = calibrationSamples == 0 ? Int.max : calibrationSamples
            if FileSystem.isDirectory(calibration), !(try FileSystem.listFolders(calibration)).isEmpty {
                guard size.isSquare else { throw imagesNeedASquareSize(size) }
                batch = try photoFolderCalibration(calibration, limit: limit, size: size.height, options: options, split: SplitRecord(metadata: stored))
            } else if FileSystem.isDirectory(calibration) {
                let images = try Inputs.expandFolders([calibration])
                let chosen = PhotoSplit.sample(Array(images.indices), count: limit, seed: 0).map { images[$0] }
                batch = try Inputs.load(chosen, height: size.height, width: size.width, mean: options.mean, std: options.std,
                                        model: "wren convert (\(size.height)x\(size.width) inputs)")
                Diagnostics.note("calibrating on \(chosen.count == images.count ? "all \(images.count)" : "\(chosen.count) (a seeded sample) of the \(images.count)") images of \(calibration)")
            } else {
                batch = try Inputs.load([calibration], height: size.height, width: size.width, mean: options.mean, std: options.std,
                                        model: "wren convert (\(size.height)x\(size.width) inputs; --input-size sets it)")
            }
            options.calibrationSource = FileSystem.fileName(calibration)
        } else {
            batch = InputBatch(values: syntheticImages(count: 64, height: size.height, width: size.width, mean: options.mean, std: options.std),
                               names: (0..<64).map { "synthetic\($0)" })
            options.calibrationSource = "synthetic uniform noise"
        }
        let result = try about(checkpoint) { try Converter.convert(
            checkpoint: loaded, calibration: batch.values, count: batch.count, height: size.height, width: size.width, options: options,
            progress: { Diagnostics.progress("calibrating", $0, $1) }) }
        let inputs = [checkpoint, calibration, splitFile].compactMap { $0 }
        try AtomicFile.write(result.bytes, to: output, refusingToOverwrite: inputs)
        let architecture = result.reference.architecture
        print("wrote \(output): \(architecture), \(architecture.numClasses) classes, \(size.height)x\(size.width) inputs, \(result.bytes.count) bytes, "
              + "\(result.quantized.layers.count) layers, calibrated (\(options.calibrationMethod), weights \(options.weightGranularity)) "
              + "on \(batch.count) inputs in \(Clock.format(Clock.now() - start))")
        let wide = result.quantized.tensors.filter { $0.elementType == .int16 }.map(\.name)
        if !wide.isEmpty { print("int16 activations (.wren 2.0): \(wide.joined(separator: ", "))") }
    }

    /// A seeded sample of at most `limit` training images of a photo folder (`split` is the
    /// checkpoint's record of how `wren train` split it), saying what it used and skipped.
    private func photoFolderCalibration(
        _ root: String, limit: Int, size: Int, options: ConversionOptions, split: SplitRecord?
    ) throws -> InputBatch {
        let loaded = try ClassFolderData.load(root, size: size, mean: options.mean, std: options.std)
        let cache = loaded.cache
        let part = try ClassFolderData.choose(.train, of: loaded, splitFile: splitFile, record: split, recordSource: checkpoint)
        let pool = part?.indices ?? Array(0..<cache.count)
        let chosen = PhotoSplit.sample(pool, count: limit, seed: split?.seed ?? 0)
        let subset = cache.subset(chosen)
        let which = part.map { "training images \($0.how)" }
            ?? "images (the training split is not known, so test images may be among them: pass --split-file)"
        let count = chosen.count == pool.count ? "all \(pool.count)" : "\(chosen.count) (a seeded sample) of the \(pool.count)"
        Diagnostics.note("calibrating on \(count) \(which) of \(root)" + (loaded.skippedSummary.map { "; \($0)" } ?? ""))
        return InputBatch(values: subset.values, names: subset.photos.map(\.relativePath))
    }
}

/// The names of `--keep-wider a,b,c`, without duplicates, in the order given.
func keptWiderNames(_ text: String) -> [String] {
    var names: [String] = []
    for part in text.split(separator: ",") {
        let name = String(part.trimmingWhitespace())
        if !name.isEmpty && !names.contains(name) { names.append(name) }
    }
    return names
}

/// Parses "a,b,c" into three finite floats.
func parseTriple(_ text: String, name: String) throws -> [Float] {
    let parts = text.split(separator: ",")
    let parsed = parts.compactMap { Float($0.trimmingWhitespace()) }
    guard parts.count == 3, parsed.count == 3, parsed.allSatisfy(\.isFinite) else {
        throw ValidationError("\(name) takes three comma-separated numbers, e.g. 0.5,0.5,0.5 (got '\(text)')")
    }
    return parsed
}

/// Class names from a file (one per line) or a comma-separated list.
func parseClassNames(_ argument: String) throws -> [String] {
    if FileSystem.isDirectory(argument) { throw ValidationError("--class-names: \(FileSystem.unreadable(argument, "Is a directory"))") }
    if Inputs.fileExtension(argument) == "txt" || (!argument.contains(",") && FileSystem.exists(argument)) {
        // Any line ending: "\r\n" is one Character, so splitting on "\n" would keep a CRLF file in one piece.
        return try FileSystem.readText(argument).split(whereSeparator: \.isNewline)
            .map { String($0.trimmingWhitespace()) }.filter { !$0.isEmpty }
    }
    return argument.split(separator: ",").map { String($0.trimmingWhitespace()) }
}

/// Images are letterboxed into squares: a non-square model calibrates on a .npy.
func imagesNeedASquareSize(_ size: InputSize) -> Error {
    CLIError("--input-size \(size) is not square, and images are letterboxed into squares: give --calibration a .npy "
             + "[N, 3, \(size.height), \(size.width)] instead")
}

/// Uniform-noise images in pixel space [0,1], normalized: a last resort for calibration.
func syntheticImages(count: Int, height: Int = 32, width: Int = 32, mean: [Float], std: [Float]) -> [Float] {
    var generator = SplitMix64(seed: 0x5752454E)
    var values: [Float] = []
    values.reserveCapacity(count * 3 * height * width)
    for _ in 0..<count {
        for c in 0..<3 {
            for _ in 0..<(height * width) { values.append((Float.random(in: 0...1, using: &generator) - mean[c]) / std[c]) }
        }
    }
    return values
}


extension Substring {
    func trimmingWhitespace() -> Substring {
        var s = self
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return s
    }
}

enum Clock {
    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Monotonic nanoseconds, for clocks WrenCore takes as a parameter (`WrenContext.profile`).
    static func nanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }

    static func format(_ seconds: Double) -> String {
        seconds < 1 ? "\(Int(seconds * 1000)) ms" : "\(Double(Int(seconds * 10)) / 10) s"
    }
}
