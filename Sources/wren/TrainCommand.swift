import ArgumentParser
import WrenCharts
import WrenConvert
import WrenHost
import WrenNetwork
import WrenTrain

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a WRN in float32 from .npy data and save it as a PyTorch-compatible .safetensors checkpoint.",
        discussion: """
            DATA is a .npy float32 [N,3,H,W] of images already normalized (as `wren run`
            takes them), LABELS a .npy int64 or int32 [N] of class indices. Start from a
            new network (--depth, --widen, initialized as the reference WRN code does,
            from --seed) or fine-tune a checkpoint (--init: any file `wren convert`
            reads: PyTorch, PaddlePaddle or safetensors). Batch norm runs in training
            mode (batch statistics; running statistics with momentum 0.1, as PyTorch's
            BatchNorm2d).

            Optimizers follow torch.optim exactly: sgd (momentum, Nesterov, coupled L2
            weight decay), adam (coupled L2 weight decay, as torch.optim.Adam) and adamw
            (decoupled). Defaults: sgd lr 0.1, momentum 0.9, weight decay 5e-4 (the WRN
            paper's recipe with --nesterov); adam lr 0.001, no decay; adamw lr 0.001,
            decay 0.01. --schedule is stepped once per epoch: constant, cosine, or
            multistep:E1,E2,...:F (lr × F at each epoch Ei; the paper:
            multistep:60,120,160:0.2); add +warmup:W for W epochs of linear warmup (e.g.
            cosine+warmup:5).

            OUT is written after every epoch (to a temporary file, then renamed), with
            PyTorch's key names (num_batches_tracked included), so torch's
            load_state_dict(strict=True) accepts it and `wren convert` / `wren run` read
            it. Each epoch prints one line (train loss and accuracy, test loss and
            accuracy with --test-data, and images/s); progress goes to stderr. --curves
            draws loss and accuracy per epoch into an .svg and --log appends one JSON
            object per epoch to a .jsonl; both are rewritten after every epoch, so they
            can be watched while training runs.

            Examples:
              wren train --data train_x.npy --labels train_y.npy \\
                  --test-data test_x.npy --test-labels test_y.npy \\
                  --depth 16 --widen 2 --epochs 15 --nesterov -o wrn16_2.safetensors \\
                  --curves curves.svg --log metrics.jsonl
              wren train --data x.npy --labels y.npy --depth 28 --widen 10 \\
                  --dropout 0.3 --epochs 200 --nesterov --batch 128 \\
                  --schedule multistep:60,120,160:0.2 -o wrn28_10.safetensors
              wren train --data x.npy --labels y.npy --init imported.pth \\
                  --optimizer adam --lr 1e-4 --epochs 5 -o tuned.safetensors
            """)

    @Option(help: "Training images: .npy float32 [N,3,H,W], normalized.")
    var data: String

    @Option(help: "Training labels: .npy int64 or int32 [N], class indices.")
    var labels: String

    @Option(help: "Test images evaluated after every epoch (.npy float32 [M,3,H,W]).")
    var testData: String?

    @Option(help: "Test labels (.npy int64 or int32 [M]).")
    var testLabels: String?

    @Option(help: "Start from this checkpoint (PyTorch, PaddlePaddle or safetensors) instead of a new network.")
    var `init`: String?

    @Option(help: "Depth of a new network: 6N+4 (10, 16, 22, 28, 40, ...).")
    var depth: Int?

    @Option(help: "Widen factor k of a new network (widths 16k, 32k, 64k).")
    var widen: Int?

    @Option(help: "Classes of a new network (default: the largest training label + 1).")
    var classes: Int?

    @Flag(help: "Give a new network's convolutions biases (as the PaddlePaddle port has).")
    var convBias = false

    @Option(help: "Dropout probability between each block's convolutions (the paper uses 0.3).")
    var dropout: Double = 0

    @Option(help: "Passes over the training data.")
    var epochs: Int = 10

    @Option(help: "Images per step.")
    var batch: Int = 64

    @Option(help: "sgd, adam or adamw.")
    var optimizer: String = "sgd"

    @Option(help: "Learning rate (default: 0.1 for sgd, 0.001 for adam and adamw).")
    var lr: Double?

    @Option(help: "SGD momentum.")
    var momentum: Double = 0.9

    @Flag(help: "Nesterov momentum (SGD).")
    var nesterov = false

    @Option(help: "Weight decay (default: 5e-4 for sgd, 0 for adam, 0.01 for adamw).")
    var weightDecay: Double?

    @Flag(help: "Decay only convolution and linear weights, not batch-norm parameters and biases (PyTorch's default decays all).")
    var noDecayNormsAndBiases = false

    @Option(help: "Learning-rate schedule: constant, cosine or multistep:E1,E2,...:F, optionally +warmup:W.")
    var schedule: String = "constant"

    @Option(help: "Label smoothing of the cross-entropy (0 to 1).")
    var labelSmoothing: Double = 0

    @Flag(help: "Take batches in file order (the last partial batch included) instead of reshuffling every epoch.")
    var noShuffle = false

    @Option(help: "Seed for initialization, shuffling and dropout.")
    var seed: UInt64 = 0

    @Option(help: "Threads (default: all processors).")
    var threads: Int?

    @Option(name: .shortAndLong, help: "Where to write the trained checkpoint (.safetensors).")
    var output: String

    @Option(help: "Draw train and test loss and accuracy per epoch into this .svg (rewritten after every epoch).")
    var curves: String?

    @Option(help: "Write one JSON object per epoch (lr, losses, accuracies, seconds, images/s) to this .jsonl.")
    var log: String?

    func validate() throws {
        guard Inputs.fileExtension(output) == "safetensors" else {
            throw ValidationError("the output file should end in .safetensors (got '\(output)')")
        }
        if `init` != nil {
            guard depth == nil, widen == nil, classes == nil, !convBias else {
                throw ValidationError("--init takes the architecture from the checkpoint: drop --depth, --widen, --classes and --conv-bias")
            }
        } else {
            guard let depth, let widen else { throw ValidationError("give --init CHECKPOINT, or --depth and --widen for a new network") }
            guard depth >= 10, (depth - 4) % 6 == 0 else { throw ValidationError("--depth \(depth) is not 6N+4 with N ≥ 1 (10, 16, 22, 28, ...)") }
            guard widen >= 1 else { throw ValidationError("--widen must be at least 1") }
            if let classes, classes < 1 { throw ValidationError("--classes must be at least 1") }
        }
        guard (testData == nil) == (testLabels == nil) else { throw ValidationError("--test-data and --test-labels go together") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard (0..<1).contains(dropout) else { throw ValidationError("--dropout must be in [0, 1)") }
        guard (0...1).contains(labelSmoothing) else { throw ValidationError("--label-smoothing must be in [0, 1]") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard ["sgd", "adam", "adamw"].contains(optimizer) else { throw ValidationError("--optimizer must be sgd, adam or adamw (got '\(optimizer)')") }
        do { _ = try LearningRateSchedule(parsing: schedule) } catch { throw ValidationError("--schedule: \(error)") }
        _ = try optimizerConfiguration().validate()
        if let curves, Inputs.fileExtension(curves) != "svg" { throw ValidationError("--curves writes an .svg file (got '\(curves)')") }
        if let log, Inputs.fileExtension(log) != "jsonl" { throw ValidationError("--log writes a .jsonl file (got '\(log)')") }
        let outputs = [("-o", output), ("--curves", curves), ("--log", log)].compactMap { name, path in path.map { (name, $0) } }
        for (index, (name, path)) in outputs.enumerated() {
            for input in [data, labels, testData, testLabels, `init`].compactMap({ $0 }) where FileSystem.sameFile(input, path) {
                throw ValidationError("\(name) \(path) would overwrite the input \(input)")
            }
            for (otherName, other) in outputs[..<index] where FileSystem.sameFile(other, path) {
                throw ValidationError("\(otherName) and \(name) name the same file")
            }
            let folder = FileSystem.parentFolder(path)
            guard FileSystem.isDirectory(folder) else { throw ValidationError("\(name): folder '\(folder)' does not exist") }
        }
    }

    func optimizerConfiguration() throws -> OptimizerConfiguration {
        let scope: WeightDecayScope = noDecayNormsAndBiases ? .convolutionAndLinearWeights : .allParameters
        switch optimizer {
        case "adam": return .adam(learningRate: lr ?? 1e-3, weightDecay: weightDecay ?? 0, weightDecayScope: scope)
        case "adamw": return .adamW(learningRate: lr ?? 1e-3, weightDecay: weightDecay ?? 0.01, weightDecayScope: scope)
        default: return .sgd(learningRate: lr ?? 0.1, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay ?? 5e-4,
                             weightDecayScope: scope)
        }
    }

    func run() throws {
        let start = Clock.now()
        let (trainImages, trainShape) = try readImages(data)
        let trainLabels = try readClassIndices(labels, count: trainShape[0], images: data)
        var testSet: (images: [Float], shape: [Int], labels: [Int])?
        if let testData, let testLabels {
            let (images, shape) = try readImages(testData)
            guard shape[2] == trainShape[2], shape[3] == trainShape[3] else {
                throw CLIError("\(testData): \(shape[2])x\(shape[3]) images, the training images are \(trainShape[2])x\(trainShape[3])")
            }
            testSet = (images, shape, try readClassIndices(testLabels, count: shape[0], images: testData))
        }

        let architecture: WRNArchitecture
        var initial: [String: FloatTensor]?
        if let checkpoint = `init` {
            let loaded = try about(checkpoint) { try CheckpointLoader.load(path: checkpoint) }
            architecture = try about(checkpoint) { try WideResNet(stateDict: loaded.tensors).architecture }
            initial = loaded.tensors
        } else {
            let classCount = classes ?? (trainLabels.max()! + 1)
            architecture = WRNArchitecture(depth: depth!, widenFactor: widen!, numClasses: classCount, convBias: convBias)
        }
        let threadCount = threads ?? Runtime.processorCount
        let team = try ThreadTeam(count: threadCount)
        let network = try TrainingNetwork(architecture: architecture, inputHeight: trainShape[2], inputWidth: trainShape[3],
                                          maxBatch: min(batch, trainShape[0]), dropout: dropout, labelSmoothing: labelSmoothing,
                                          seed: seed, team: team)
        if let initial {
            try about(`init`!) { try network.load(initial) }
        } else {
            network.initialize(seed: seed)
        }
        let training = try LabeledImages(images: trainImages, labels: trainLabels, height: trainShape[2], width: trainShape[3],
                                         classes: architecture.numClasses, name: data)
        let test = try testSet.map { set throws in
            try LabeledImages(images: set.images, labels: set.labels, height: set.shape[2], width: set.shape[3],
                              classes: architecture.numClasses, name: testData!)
        }
        let options = TrainingOptions(epochs: epochs, batchSize: min(batch, trainShape[0]), shuffle: !noShuffle, seed: seed,
                                      optimizer: try optimizerConfiguration(), schedule: try LearningRateSchedule(parsing: schedule))
        let trainer = try Trainer(network: network, training: training, test: test, options: options)
        let parameterCount = network.parameters.reduce(0) { $0 + $1.value.count }
        print("training \(architecture) (\(architecture.numClasses) classes\(architecture.convBias ? ", conv biases" : ""), "
              + "\(parameterCount) parameters) on \(training.count) images of \(trainShape[2])x\(trainShape[3])"
              + (test.map { ", testing on \($0.count)" } ?? "") + "; \(options.optimizer.algorithm.name) lr \(options.optimizer.learningRate), "
              + "schedule \(options.schedule), batch \(options.batchSize), \(threadCount) thread\(threadCount == 1 ? "" : "s")")

        let inputs = [data, labels, testData, testLabels, `init`].compactMap { $0 }
        var reports: [EpochReport] = []
        let title = "\(architecture), \(architecture.numClasses) classes — \(FileSystem.fileName(data))"
        let subtitle = "\(options.optimizer.algorithm.name) lr \(options.optimizer.learningRate), schedule \(options.schedule), "
            + "batch \(options.batchSize), \(training.count) training images" + (test.map { ", \($0.count) test" } ?? "")
        try trainer.run(progress: { step in
            Diagnostics.progress("epoch \(step.epoch) loss \(format(Float(step.loss))) \(Int(step.imagesPerSecond)) img/s", step.step, step.steps)
        }, epochEnded: { report in
            var line = "epoch \(report.epoch)/\(epochs)  lr \(format(Float(report.learningRate)))  train loss \(format(Float(report.trainLoss))) "
                + "acc \(percentage(report.trainAccuracy))"
            if let loss = report.testLoss, let accuracy = report.testAccuracy {
                line += "  test loss \(format(Float(loss))) acc \(percentage(accuracy))"
            }
            line += "  \(Clock.format(report.seconds))"
            if let steady = report.steadyImagesPerSecond { line += ", steady \(Double(Int(steady * 10)) / 10) images/s" }
            print(line)
            fflush(stdout)  // one line per epoch, visible as it happens even through a pipe
            do {
                try save(network, to: output, inputs: inputs)
            } catch {
                Diagnostics.note("error: could not save \(output) after epoch \(report.epoch): \(error)")
            }
            reports.append(report)
            do {
                if let curves {
                    try AtomicFile.write(Array(trainingCurvesSVG(reports, title: title, subtitle: subtitle).utf8), to: curves,
                                         refusingToOverwrite: inputs)
                }
                if let log {
                    try AtomicFile.write(Array(reports.map(jsonLine).joined().utf8), to: log, refusingToOverwrite: inputs)
                }
            } catch {
                Diagnostics.note("error: could not write the curves or log after epoch \(report.epoch): \(error)")
            }
        })
        print("wrote \(output) after \(epochs) epochs in \(Clock.format(Clock.now() - start))")
    }

    private func readImages(_ path: String) throws -> ([Float], [Int]) {
        try about(path) {
            let array = try NumpyArray.read(path: path)
            guard array.shape.count == 4, array.shape[1] == 3, array.shape[0] >= 1, array.shape[2] >= 1, array.shape[3] >= 1 else {
                throw CLIError("\(path): shape \(array.shape), expected [N, 3, H, W] images")
            }
            guard array.dtype == .float32 else { throw CLIError("\(path): dtype \(array.dtype.rawValue), expected float32 images") }
            return (try array.floats(), array.shape)
        }
    }

    private func readClassIndices(_ path: String, count: Int, images: String) throws -> [Int] {
        let values = try readLabels(path)
        guard values.count == count else {
            throw CLIError("\(path): \(values.count) labels for the \(count) images of \(images)")
        }
        if let bad = values.firstIndex(where: { $0 < 0 || $0 > Int64(Int32.max) }) {
            throw CLIError("\(path): label \(values[bad]) of image \(bad) is not a class index")
        }
        return values.map { Int($0) }
    }
}

/// Writes the network's state dict with PyTorch's names and dtypes (float32, int64 counters).
func save(_ network: TrainingNetwork, to path: String, inputs: [String]) throws {
    let tensors = network.stateDict().map { value -> SafetensorsTensor in
        switch value.values {
        case .float(let data): return .float32(value.entry.key, shape: value.entry.shape, data)
        case .count(let count): return .int64(value.entry.key, shape: value.entry.shape, [Int64(count)])
        }
    }
    try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: path, refusingToOverwrite: inputs)
}

/// The loss and accuracy curves per epoch: two panels, train and test in each.
func trainingCurvesSVG(_ reports: [EpochReport], title: String, subtitle: String) -> String {
    let train = "#1f77b4", test = "#ff7f0e"
    let hasTest = reports.contains { $0.testLoss != nil }
    func panel(_ name: String, _ label: String, _ trainValue: (EpochReport) -> Double, _ testValue: (EpochReport) -> Double?,
               range: ClosedRange<Double>? = nil) -> LinePanel {
        var series = [LinePanel.Series(name: "train", color: train, values: reports.map(trainValue))]
        if hasTest { series.append(LinePanel.Series(name: "test", color: test, values: reports.map(testValue))) }
        return LinePanel(title: name, yLabel: label, series: series, yRange: range)
    }
    return svgLineCharts(title: title, subtitle: subtitle, xLabel: "epoch", panels: [
        panel("loss", "cross-entropy loss", \.trainLoss, \.testLoss),
        panel("accuracy", "top-1 accuracy (%)", { 100 * $0.trainAccuracy }, { $0.testAccuracy.map { 100 * $0 } }, range: 0...100),
    ])
}

/// One epoch as a JSON object on one line (`--log`).
func jsonLine(_ report: EpochReport) -> String {
    func number(_ value: Double?) -> String { value.map { $0.isFinite ? "\($0)" : "null" } ?? "null" }
    return "{\"epoch\": \(report.epoch), \"lr\": \(number(report.learningRate)), \"train_loss\": \(number(report.trainLoss)), "
        + "\"train_accuracy\": \(number(report.trainAccuracy)), \"test_loss\": \(number(report.testLoss)), "
        + "\"test_accuracy\": \(number(report.testAccuracy)), \"seconds\": \(number(report.seconds)), "
        + "\"steady_images_per_second\": \(number(report.steadyImagesPerSecond))}\n"
}

func percentage(_ fraction: Double) -> String {
    guard fraction.isFinite else { return "\(fraction)" }
    return "\(Double(Int((fraction * 10000).rounded())) / 100)%"
}
