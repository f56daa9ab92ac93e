import ArgumentParser
import Foundation
import WrenConvert
import WrenCore
import WrenNetwork
import WrenReference
import WrenHost
import WrenImage

#if canImport(Glibc)
import Glibc
#endif

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify inputs with a .wren model (int8) or a checkpoint (float reference).",
        discussion: reflowed("""
            INPUT is a .npy float32 [N,3,H,W] at the model's input size, already
            normalized, or image files (JPEG or PNG, recognised by content) or folders of
            them, which are letterboxed to the input size on black and normalized with the
            model's mean/std (for a .wren) or --mean/--std (for a checkpoint). Prints the
            top-K classes per input.

            With --reference CHECKPOINT, the same inputs also go through the float
            reference model and Wren prints how often the two agree on the top class and
            how far their logits are apart; with --labels Y.npy (integer class per input)
            it prints accuracy too.

            Examples:
              wren run model.wren digit.jpg --top 3
              wren run model.wren test_x.npy --logits logits.npy
              wren run model.wren test_x.npy --reference model.pth --labels test_y.npy
              wren run model.wren photos/ --top 3 --json
            """))

    @Argument(help: "A .wren file (int8 runtime) or a checkpoint (float reference): .pth, .pdparams, .safetensors or .onnx.")
    var model: String

    @Argument(help: "Inputs: .npy batches and/or image files.")
    var inputs: [String]

    @Option(help: "Write the logits as a float32 .npy of shape [N, classes].")
    var logits: String?

    @Option(parsing: .unconditional, help: "How many classes to print per input.")
    var top: Int = 1

    @Option(help: "A checkpoint to compare against (float reference): prints top-1 agreement and logit error.")
    var reference: String?

    @Option(help: "Integer class labels (.npy, one per input): prints accuracy.")
    var labels: String?

    @Option(help: "Mean for image inputs when MODEL is a checkpoint (default: the one `wren train` stored in it, else 0.5,0.5,0.5).")
    var mean: String?

    @Option(help: "Std for image inputs when MODEL is a checkpoint (default: the stored one, else 0.5,0.5,0.5).")
    var std: String?

    @Flag(help: "Do not print per-input predictions (summary lines only).")
    var quiet = false

    @Flag(help: "Print the predictions as one JSON object (per input: file and top-K classes with probabilities) instead of text.")
    var json = false

    @OptionGroup(title: "Execution (int8)")
    var execution: ExecutionOptions

    @OptionGroup(title: "Checkpoint limits")
    var importLimits: ImportLimitOptions

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one input (.npy or image file)") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        if json && quiet { throw ValidationError("--json prints the predictions; --quiet leaves them out: choose one") }
        // Missing files are named before a single input is classified.
        try FileSystem.requireExisting([model] + inputs + [reference, labels].compactMap { $0 })
        if let logits, Inputs.fileExtension(logits) != "npy" {
            throw ValidationError("--logits writes a .npy file (got '\(logits)')")
        }
        if let logits { try FileSystem.checkOutput(logits, option: "--logits", inputs: [model] + inputs + [reference, labels].compactMap { $0 }) }
    }

    func run() throws {
        let classifier = try Classifier.open(model, mean: try parseTriple(mean ?? "0.5,0.5,0.5", name: "--mean"),
                                             std: try parseTriple(std ?? "0.5,0.5,0.5", name: "--std"),
                                             explicitNormalization: mean != nil || std != nil,
                                             execution: execution, limits: importLimits.limits)
        let classes = classifier.numClasses
        // The float reference is fully convolutional: .npy inputs run at their own size.
        let batch = try Inputs.load(Inputs.expandFolders(inputs), height: classifier.height, width: classifier.width,
                                    mean: classifier.mean, std: classifier.std, model: model, sizeFromNpy: classifier.wren == nil)
        // Everything that can be refused is refused before the first prediction is printed.
        var truth: [Int64]?
        if let labels {
            let values = try readLabels(labels, classes: classes)
            guard values.count == batch.count else {
                throw CLIError("--labels \(labels) holds \(values.count) labels for \(batch.count) inputs")
            }
            truth = values
        }
        let float = try reference.map { try openReference($0, for: classifier) }

        let start = Clock.now()
        let output = try classifier.classify(batch)
        let elapsed = Clock.now() - start
        try classifier.checkFinite(output, batch)

        if json {
            try printJSON(output, batch: batch, classifier: classifier)
        } else if !quiet {
            for (name, ranked) in zip(batch.names, Predictions.ranked(output, classes: classes, top: top)) {
                print("\(name): \(Predictions.line(ranked, label: classifier.label))")
            }
        }
        Diagnostics.note("\(classifier.kind): \(batch.count) inputs in \(Clock.format(elapsed))")

        let predictions = Predictions.argmaxRows(output, classes: classes)
        if let truth {
            print("\(classifier.kind) accuracy: \(ratio(zip(predictions, truth).filter { Int64($0) == $1 }.count, batch.count))")
        }
        if let float {
            let floatOutput = try float.classify(batch)
            try float.checkFinite(floatOutput, batch)
            let floatPredictions = Predictions.argmaxRows(floatOutput, classes: classes)
            let agree = zip(predictions, floatPredictions).filter { $0 == $1 }.count
            var maxDelta: Float = 0
            var sumDelta: Double = 0
            for (a, b) in zip(output, floatOutput) {
                maxDelta = max(maxDelta, abs(a - b))
                sumDelta += Double(abs(a - b))
            }
            if let truth {
                print("\(float.kind) accuracy: \(ratio(zip(floatPredictions, truth).filter { Int64($0) == $1 }.count, batch.count))")
            }
            print("top-1 agreement \(classifier.kind) vs \(float.kind): \(ratio(agree, batch.count))")
            print("logit difference: mean |Δ| \(format(Float(sumDelta / Double(output.count)))), max |Δ| \(format(maxDelta))")
        }
        if let logits {
            var protected = inputs + [model]
            if let reference { protected.append(reference) }
            try NumpyArray.write(floats: output, shape: [batch.count, classes], to: logits, refusingToOverwrite: protected)
            Diagnostics.note("wrote \(logits)")
        }
    }

    /// {"model", "kind", "inputs": [{"file", "top": [{"class", "label", "probability"}]}]} on stdout.
    private func printJSON(_ output: [Float], batch: InputBatch, classifier: Classifier) throws {
        let classes = classifier.numClasses
        let entries: [[String: Any]] = zip(batch.names, Predictions.ranked(output, classes: classes, top: top)).map { name, ranked in
            return ["file": name, "top": ranked.map { ["class": $0.index, "label": classifier.label($0.index), "probability": Double($0.probability)] }]
        }
        let document: [String: Any] = ["model": model, "kind": classifier.kind, "inputs": entries]
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }

    /// The --reference checkpoint, refused unless it is the same network as MODEL.
    private func openReference(_ path: String, for classifier: Classifier) throws -> Classifier {
        let float = try Classifier.open(path, mean: classifier.mean, std: classifier.std, execution: execution, limits: importLimits.limits)
        guard let architecture = float.architecture, let sha256 = float.sha256 else {
            throw CLIError("--reference \(path) is a .wren model; give the float checkpoint (.pth, .pdparams, .safetensors or .onnx)")
        }
        if let wren = classifier.wren {
            try ReferenceCheck.check(model: wren.description, modelPath: model, reference: architecture, referencePath: path,
                                     referenceSHA256: sha256)
        } else if let modelArchitecture = classifier.architecture {
            try ReferenceCheck.check(model: modelArchitecture, modelPath: model, reference: architecture, referencePath: path)
        }
        return float
    }
}

/// Either runtime behind one interface: the int8 `.wren` runtime or the float reference.
struct Classifier {
    var kind: String
    var numClasses: Int
    var mean: [Float]
    var std: [Float]
    var labels: [String]?
    /// The input size the model takes: images are letterboxed to it, .npy shapes must match it.
    var height = 32
    var width = 32
    /// The `.wren` model, or for a checkpoint its architecture and SHA-256 (to check a --reference against).
    var wren: WrenModel?
    var architecture: WRNArchitecture?
    var sha256: String?
    var classify: (InputBatch) throws -> [Float]
    /// Where image `index` of the batch first went non-finite, for the error that reports it.
    var traceNonFinite: (InputBatch, Int) -> String?

    func label(_ index: Int) -> String { labels?[index] ?? "\(index)" }

    /// NaN or infinite logits are an error naming the input and where they first appeared, never output.
    func checkFinite(_ output: [Float], _ batch: InputBatch) throws {
        try NonFiniteTrace.check(logits: output, classes: numClasses, model: kind, names: batch.names) { traceNonFinite(batch, $0) }
    }

    /// `mean`/`std` apply to a checkpoint; unless `explicitNormalization`, a `wren train` checkpoint's stored ones win.
    static func open(
        _ path: String, mean: [Float], std: [Float], explicitNormalization: Bool = true, execution: ExecutionOptions,
        limits: ImportLimits
    ) throws -> Classifier {
        let bytes = try FileSystem.readBytes(path)
        if bytes.isEmpty { throw CLIError(FileSystem.unreadable(path, "the file is empty")) }
        if bytes.starts(with: WrenFormat.magic) {
            let model = try about(path) { try WrenModel(bytes: bytes) }
            let description = model.description
            let kernels = try execution.kernelTable()
            return Classifier(
                kind: "int8", numClasses: model.numClasses, mean: description.input.mean, std: description.input.std,
                labels: description.labels, height: description.input.height, width: description.input.width, wren: model,
                classify: { batch in
                    let chunk = 64
                    let pool = ThreadPool(workers: execution.threadCount)
                    let context = try execution.namingTheArenaOption {
                        try WrenContext(
                            model: model, maxBatch: min(chunk, max(batch.count, 1)), kernels: kernels, parallelism: pool.parallelism,
                            arenaLimit: execution.arenaLimit)
                    }
                    let perImage = 3 * description.input.height * description.input.width
                    var output: [Float] = []
                    var start = 0
                    while start < batch.count {
                        let n = min(chunk, batch.count - start)
                        output += try context.run(Array(batch.values[(start * perImage)..<((start + n) * perImage)]), batch: n)
                        start += n
                    }
                    return output
                },
                traceNonFinite: { batch, index in NonFiniteTrace.firstLayer(model: model, image: batch.image(index), kernels: kernels) })
        }
        let checkpoint = try about(path) {
            do {
                return try CheckpointLoader.load(path: path, limits: limits)
            } catch {
                throw CLIError("\(path): neither a .wren model nor a readable checkpoint: \(error)")
            }
        }
        let network = try about(path) { try WideResNet(stateDict: checkpoint.tensors) }
        // A checkpoint from `wren train` names its classes, its normalization and its input size.
        var names = TrainingMetadata.labels(checkpoint.metadata)
        if names?.count != network.architecture.numClasses { names = nil }
        let size = InputSize.stored(in: checkpoint.metadata) ?? .standard
        return Classifier(
            kind: "float", numClasses: network.architecture.numClasses,
            mean: explicitNormalization ? mean : TrainingMetadata.triple(checkpoint.metadata, TrainingMetadata.mean) ?? mean,
            std: explicitNormalization ? std : TrainingMetadata.triple(checkpoint.metadata, TrainingMetadata.std) ?? std,
            labels: names, height: size.height, width: size.width, architecture: network.architecture, sha256: checkpoint.sha256,
            classify: { batch in try network.forward(batch.values, batch: batch.count, height: batch.height, width: batch.width) },
            traceNonFinite: { batch, index in
                NonFiniteTrace.firstLayer(reference: network, image: batch.image(index), height: batch.height, width: batch.width)
            })
    }
}

func ratio(_ hits: Int, _ total: Int) -> String {
    "\(hits)/\(total) (\(Double(Int(Double(hits) / Double(max(total, 1)) * 10000)) / 100)%)"
}

/// Four decimals for ordinary magnitudes; tiny, huge and non-finite values as Swift prints them ("1e+38", "nan").
func format(_ value: Float) -> String {
    let magnitude = abs(value)
    if !value.isFinite || (magnitude != 0 && (magnitude < 1e-3 || magnitude >= 1e5)) { return "\(value)" }
    return "\(Double(Int((Double(value) * 10000).rounded())) / 10000)"
}

/// Integer class labels from a .npy; with `classes`, each must be a class of a model with that many.
func readLabels(_ path: String, classes: Int? = nil) throws -> [Int64] {
    try about(path) {
        let array = try NumpyArray.read(path: path)
        guard array.dtype == .int64 || array.dtype == .int32 || array.dtype == .uint8 || array.dtype == .int8 else {
            throw CLIError("\(path): --labels needs integer class indices (int64, int32, uint8 or int8), got \(array.dtype)")
        }
        let values = try array.int64s()
        if let classes, let bad = values.firstIndex(where: { $0 < 0 || $0 >= Int64(classes) }) {
            throw CLIError("\(path): label \(values[bad]) of input \(bad) is not a class of the model (0...\(classes - 1))")
        }
        return values
    }
}
