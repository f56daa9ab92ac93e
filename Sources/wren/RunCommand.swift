import ArgumentParser
import WrenConvert
import WrenCore
import WrenNetwork
import WrenReference
import WrenHost

#if canImport(Glibc)
import Glibc
#endif

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Classify inputs with a .wren model (int8) or a checkpoint (float reference).",
        discussion: """
            INPUT is a .npy float32 [N,3,32,32] already normalized, or image files (JPEG),
            which are letterboxed to 32x32 on black and normalized with the model's
            mean/std (for a .wren) or --mean/--std (for a checkpoint). Prints the top-K
            classes per input.

            With --reference CHECKPOINT, the same inputs also go through the float
            reference model and Wren prints how often the two agree on the top class and
            how far their logits are apart; with --labels Y.npy (integer class per input)
            it prints accuracy too.

            Examples:
              wren run model.wren digit.jpg --top 3
              wren run model.wren test_x.npy --logits logits.npy
              wren run model.wren test_x.npy --reference model.pth --labels test_y.npy
            """)

    @Argument(help: "A .wren file (int8 runtime) or a PyTorch checkpoint (float reference).")
    var model: String

    @Argument(help: "Inputs: .npy batches and/or image files.")
    var inputs: [String]

    @Option(help: "Write the logits as a float32 .npy of shape [N, classes].")
    var logits: String?

    @Option(help: "How many classes to print per input.")
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

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one input (.npy or image file)") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        if let logits, Inputs.fileExtension(logits) != "npy" {
            throw ValidationError("--logits writes a .npy file (got '\(logits)')")
        }
        if let logits, ([model] + inputs + [reference, labels].compactMap { $0 }).contains(where: { FileSystem.sameFile($0, logits) }) {
            throw ValidationError("--logits \(logits) would overwrite an input")
        }
    }

    func run() throws {
        let classifier = try Classifier.open(model, mean: try parseTriple(mean ?? "0.5,0.5,0.5", name: "--mean"),
                                             std: try parseTriple(std ?? "0.5,0.5,0.5", name: "--std"),
                                             explicitNormalization: mean != nil || std != nil)
        let batch = try Inputs.load(Inputs.expandFolders(inputs), size: 32, mean: classifier.mean, std: classifier.std)
        let start = Clock.now()
        let output = try classifier.classify(batch)
        let elapsed = Clock.now() - start
        let classes = classifier.numClasses

        if !quiet {
            for (index, name) in batch.names.enumerated() {
                let row = Array(output[(index * classes)..<((index + 1) * classes)])
                let ranked = topK(softmax(row), k: min(top, classes))
                let text = ranked.map { "\(classifier.label($0.index)) (\(percent($0.probability)))" }.joined(separator: ", ")
                print("\(name): \(text)")
            }
        }
        Diagnostics.note("\(classifier.kind): \(batch.count) inputs in \(Clock.format(elapsed))")

        let predictions = argmaxRows(output, classes: classes)
        if let labels {
            let truth = try readLabels(labels)
            guard truth.count == batch.count else {
                throw CLIError("--labels \(labels) holds \(truth.count) labels for \(batch.count) inputs")
            }
            print("\(classifier.kind) accuracy: \(ratio(zip(predictions, truth).filter { Int64($0) == $1 }.count, batch.count))")
        }
        if let reference {
            let float = try Classifier.open(reference, mean: classifier.mean, std: classifier.std)
            guard float.numClasses == classes else {
                throw CLIError("the reference \(reference) has \(float.numClasses) classes, the model \(classes)")
            }
            let floatOutput = try float.classify(batch)
            let floatPredictions = argmaxRows(floatOutput, classes: classes)
            let agree = zip(predictions, floatPredictions).filter { $0 == $1 }.count
            var maxDelta: Float = 0
            var sumDelta: Double = 0
            for (a, b) in zip(output, floatOutput) {
                maxDelta = max(maxDelta, abs(a - b))
                sumDelta += Double(abs(a - b))
            }
            if let labels {
                let truth = try readLabels(labels)
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
}

/// Either runtime behind one interface: the int8 `.wren` runtime or the float reference.
struct Classifier {
    var kind: String
    var numClasses: Int
    var mean: [Float]
    var std: [Float]
    var labels: [String]?
    var classify: (InputBatch) throws -> [Float]

    func label(_ index: Int) -> String { labels?[index] ?? "\(index)" }

    /// `mean`/`std` apply to a checkpoint; unless `explicitNormalization`, a `wren train` checkpoint's stored ones win.
    static func open(_ path: String, mean: [Float], std: [Float], explicitNormalization: Bool = true) throws -> Classifier {
        let bytes = try FileSystem.readBytes(path)
        if bytes.isEmpty { throw CLIError("\(path): file is empty") }
        if bytes.starts(with: WrenFormat.magic) {
            let model = try about(path) { try WrenModel(bytes: bytes) }
            let description = model.description
            return Classifier(
                kind: "int8", numClasses: model.numClasses, mean: description.input.mean, std: description.input.std,
                labels: description.labels,
                classify: { batch in
                    let chunk = 64
                    let pool = ThreadPool(workers: Runtime.processorCount)
                    let context = try WrenContext(
                        model: model, maxBatch: min(chunk, max(batch.count, 1)), kernels: try Runtime.selectedKernels(),
                        parallelism: pool.parallelism)
                    let perImage = 3 * description.input.height * description.input.width
                    var output: [Float] = []
                    var start = 0
                    while start < batch.count {
                        let n = min(chunk, batch.count - start)
                        output += try context.run(Array(batch.values[(start * perImage)..<((start + n) * perImage)]), batch: n)
                        start += n
                    }
                    return output
                })
        }
        let checkpoint = try about(path) {
            do {
                return try CheckpointLoader.load(path: path)
            } catch {
                throw CLIError("\(path): neither a .wren model nor a readable checkpoint: \(error)")
            }
        }
        let network = try about(path) { try WideResNet(stateDict: checkpoint.tensors) }
        // A checkpoint from `wren train` names its classes and its normalization.
        var names = TrainingMetadata.labels(checkpoint.metadata)
        if names?.count != network.architecture.numClasses { names = nil }
        return Classifier(
            kind: "float", numClasses: network.architecture.numClasses,
            mean: explicitNormalization ? mean : TrainingMetadata.triple(checkpoint.metadata, TrainingMetadata.mean) ?? mean,
            std: explicitNormalization ? std : TrainingMetadata.triple(checkpoint.metadata, TrainingMetadata.std) ?? std,
            labels: names,
            classify: { batch in try network.forward(batch.values, batch: batch.count) })
    }
}

func softmax(_ row: [Float]) -> [Float] {
    let top = row.max() ?? 0
    let exps = row.map { Double(expf($0 - top)) }
    let total = exps.reduce(0, +)
    return exps.map { Float($0 / total) }
}

func topK(_ probabilities: [Float], k: Int) -> [(index: Int, probability: Float)] {
    let pairs: [(index: Int, probability: Float)] = probabilities.enumerated().map { ($0.offset, $0.element) }
    let sorted = pairs.sorted { a, b in a.probability > b.probability || (a.probability == b.probability && a.index < b.index) }
    return Array(sorted.prefix(k))
}

func argmaxRows(_ values: [Float], classes: Int) -> [Int] {
    stride(from: 0, to: values.count, by: classes).map { start in
        var best = start
        for i in start..<(start + classes) where values[i] > values[best] { best = i }
        return best - start
    }
}

func percent(_ p: Float) -> String { "\(Double(Int(p * 1000)) / 10)%" }

func ratio(_ hits: Int, _ total: Int) -> String {
    "\(hits)/\(total) (\(Double(Int(Double(hits) / Double(max(total, 1)) * 10000)) / 100)%)"
}

func format(_ value: Float) -> String {
    let magnitude = abs(value)
    if magnitude != 0 && (magnitude < 1e-3 || magnitude >= 1e5) { return "\(value)" }
    return "\(Double(Int((Double(value) * 10000).rounded())) / 10000)"
}

/// Integer class labels from a .npy.
func readLabels(_ path: String) throws -> [Int64] {
    try about(path) {
        let array = try NumpyArray.read(path: path)
        guard array.dtype == .int64 || array.dtype == .int32 || array.dtype == .uint8 || array.dtype == .int8 else {
            throw CLIError("\(path): --labels needs integer class indices, got \(array.dtype.rawValue)")
        }
        return try array.int64s()
    }
}
