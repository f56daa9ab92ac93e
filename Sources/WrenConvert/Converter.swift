import WrenCore
import WrenNetwork

/// What `wren convert` needs besides the checkpoint.
public struct ConversionOptions: Sendable {
    /// Per-channel normalization the model was trained with; stored in the file for image inputs.
    public var mean: [Float] = [0.5, 0.5, 0.5]
    public var std: [Float] = [0.5, 0.5, 0.5]
    /// One label per class, or nil.
    public var labels: [String]?
    /// Describes where the calibration inputs came from, for the file's metadata.
    public var calibrationSource = "unspecified"
    /// How activation ranges are chosen from the calibration inputs.
    public var calibrationMethod: CalibrationMethod = .minMax
    /// One weight scale per output channel (default) or per tensor.
    public var weightGranularity: WeightGranularity = .perChannel
    public var producer = "wren 0.1.0"
    /// Shift the float classifier's bias by the int8 model's mean logit error on the calibration
    /// inputs (what rounding adds on average, mostly the per-channel constant errors that global
    /// pooling does not average away).
    public var biasCorrection = true
    /// The kernels the bias correction's int8 pass runs with (all give identical results).
    public var kernels: KernelTable = .portable
    /// The host's threads for calibration and the bias-correction pass (the result does not depend on them).
    public var parallelism: Parallelism = .serial
    /// Activation tensors stored as int16 instead of int8 (`--keep-wider`, names as `wren validate`
    /// prints them); the layers that read or write them run with 16-bit activations.
    public var keepWider: [String] = []
    /// Also keep wider the K int8 tensors with the lowest SQNR on the calibration inputs
    /// (`--auto-keep-wider K`): ranked on a first quantization, then quantized again.
    public var autoKeepWider = 0

    public init() {}
}

/// checkpoint → float WRN → calibrate → fold + quantize → `.wren` bytes.
public enum Converter {
    public struct Result {
        public var bytes: [UInt8]
        public var quantized: QuantizedModel
        public var reference: WideResNet
    }

    /// - Parameters:
    ///   - calibration: `count` normalized NCHW float32 images of `height` x `width`.
    ///   - progress: called with (images done, total) during calibration; percentile and entropy
    ///     calibration go over the images twice, and `total` counts both passes.
    public static func convert(
        checkpoint: Checkpoint, calibration: [Float], count: Int, height: Int = 32, width: Int = 32,
        options: ConversionOptions, progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> Result {
        guard options.mean.count == 3, options.std.count == 3, options.std.allSatisfy({ $0 > 0 && $0.isFinite }),
              options.mean.allSatisfy(\.isFinite) else {
            throw ConvertError.invalidOption("--mean and --std take 3 finite values each, std > 0")
        }
        let model = try WideResNet(stateDict: checkpoint.tensors)
        if let labels = options.labels, labels.count != model.architecture.numClasses {
            throw ConvertError.invalidOption("\(labels.count) labels given, the checkpoint has \(model.architecture.numClasses) classes")
        }
        if let labels = options.labels, labels.contains(where: { $0.contains("\n") }) {
            throw ConvertError.invalidOption("labels may not contain line breaks")
        }
        let ranges = try ActivationRanges.calibrate(
            model: model, inputs: calibration, count: count, height: height, width: width,
            method: options.calibrationMethod, parallelism: options.parallelism, progress: progress)
        let architecture = model.architecture
        var metadata: [(key: String, value: String)] = [
            ("architecture", architecture.description),
            ("depth", "\(architecture.depth)"),
            ("widen_factor", "\(architecture.widenFactor)"),
            ("num_classes", "\(architecture.numClasses)"),
            ("conv_bias", architecture.convBias ? "true" : "false"),
            ("producer", options.producer),
            ("source_name", checkpoint.sourceName),
            ("source_sha256", checkpoint.sha256),
            ("calibration", "\(options.calibrationMethod) over \(count) inputs (\(options.calibrationSource))"),
            ("weights", options.weightGranularity == .perChannel ? "int8 symmetric per output channel" : "int8 symmetric per tensor"),
            ("classifier", options.biasCorrection ? "float32, bias corrected for the int8 features' mean error on the calibration inputs" : "float32"),
        ]
        if let labels = options.labels { metadata.append(("labels", labels.joined(separator: "\n"))) }
        var quantizer = Quantizer(
            model: model, ranges: ranges, mean: options.mean, std: options.std, height: height, width: width,
            weightGranularity: options.weightGranularity, keepWider: Set(options.keepWider))
        let wider = try KeepWider.choose(options, quantizer: quantizer, calibration: calibration, count: count)
        quantizer.keepWider = Set(wider.names)
        metadata += wider.metadata
        var quantized = try quantizer.quantize(metadata: metadata)
        var bytes = ModelWriter.write(quantized)
        if options.biasCorrection, let classifier = quantized.layers.lastIndex(where: { $0.op == .averagePoolLinear }) {
            let error = try meanLogitError(of: bytes, float: ranges.meanLogits, calibration: calibration, count: count,
                                           kernels: options.kernels, parallelism: options.parallelism)
            // The classifier is float and linear: lowering its bias lowers every logit by as much.
            let corrected = zip(model.fc.bias, error).map { Float(Double($0) - $1) }
            quantized.layers[classifier].blobs[1] = .littleEndian(corrected)
            bytes = ModelWriter.write(quantized)
        }
        return Result(bytes: bytes, quantized: quantized, reference: model)
    }

    /// The int8 model's mean logit minus the float model's, per class, over the calibration inputs.
    static func meanLogitError(
        of bytes: [UInt8], float: [Double], calibration: [Float], count: Int, kernels: KernelTable, parallelism: Parallelism
    ) throws -> [Double] {
        let model = try WrenModel(bytes: bytes)
        let chunk = min(count, 32)
        let context = try WrenContext(model: model, maxBatch: chunk, kernels: kernels, parallelism: parallelism)
        let perImage = calibration.count / count
        var sums: [Double] = []
        var start = 0
        while start < count {
            let n = min(chunk, count - start)
            let logits = try context.run(Array(calibration[(start * perImage)..<((start + n) * perImage)]), batch: n)
            addPerClass(logits, classes: float.count, into: &sums)
            start += n
        }
        return zip(sums, float).map { $0 / Double(count) - $1 }
    }
}

/// Adds each class's logits (rows of `classes` values) into `sums`, which starts empty or holds one
/// sum per class.
func addPerClass(_ logits: [Float], classes: Int, into sums: inout [Double]) {
    if sums.isEmpty { sums = [Double](repeating: 0, count: classes) }
    for (index, value) in logits.enumerated() { sums[index % classes] += Double(value) }
}
