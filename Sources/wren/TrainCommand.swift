import ArgumentParser
import Synchronization
import WrenCharts
import WrenConvert
import WrenHost
import WrenNetwork
import WrenPhotos
import WrenTrain

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a WRN in float32 from a folder of photos or .npy data and save it as a PyTorch-compatible .safetensors checkpoint.",
        discussion: reflowed("""
            Two forms.

            Photos: `wren train DATA_DIR -o MODEL.safetensors`. DATA_DIR holds one
            subfolder of JPEG or PNG images per class; the class names are the folder
            names in sorted order. Files are read by content (a JPEG named scan_07 or a PNG
            named IMG.JPG counts); names starting with '.' (.ipynb_checkpoints, .DS_Store)
            are ignored; other files (notes.txt, GIF) are listed once as skipped. A corrupt
            image is skipped with a warning naming it (--strict: an error). Each class is
            split on its own, seeded by --seed: --split 0.7 (default) of its images train,
            the rest test (--val DIR: a separate folder tests instead). The fraction, seed
            and image count go into the checkpoint's metadata, so `wren convert
            --calibration DATA_DIR` samples training images and `wren validate --data
            DATA_DIR` tests on the held-out ones. --save-split FILE writes the lists
            ("[train]", "[test]", then one relative/path<TAB>class per line); --split-file
            FILE reads them back. Every
            image is decoded once and letterboxed on black to 32x32 (--input-size) and normalized with
            --mean/--std (default 0.5, 0.5, 0.5) by the code `wren run` uses on images,
            then kept in memory. Training images are augmented with --augment (default
            hflip,vflip; crop = the WRN paper's pad-4 random crop; none). Defaults are the
            PaddlePaddle tutorial's: WRN-28-1, adam lr 0.001, 60 epochs, batch 32.
            --recipe paper selects the WRN paper's: sgd Nesterov momentum 0.9, lr 0.1,
            weight decay 5e-4, lr x0.2 at 30%, 60% and 80% of the epochs, dropout 0.3; any
            option given explicitly overrides the recipe. The class names, mean and std go
            into the checkpoint's metadata, so `wren convert` needs no
            --labels/--mean/--std and `wren run` prints class names.

            Arrays: `wren train --data X.npy --labels Y.npy ...`. DATA is a .npy float32
            [N,3,H,W] of images already normalized (as `wren run` takes them), LABELS a
            .npy int64 or int32 [N] of class indices; --depth and --widen are needed for a
            new network. Defaults: sgd, 10 epochs, batch 64, no augmentation.

            Either form starts from a new network (initialized as the reference WRN code
            does, from --seed) or fine-tunes a checkpoint (--init: any file `wren convert`
            reads: PyTorch, PaddlePaddle or safetensors). Batch norm runs in training mode
            (batch statistics; running statistics with momentum 0.1, as PyTorch's
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
            accuracy, images/s; "best" marks the best test accuracy so far, whose weights
            also go to OUT with .best before .safetensors); progress (loss, running
            accuracy, images/s, ETA) goes to stderr. --curves draws loss and accuracy per
            epoch into an .svg and --log appends one JSON object per epoch to a .jsonl;
            both are rewritten after every epoch, so they can be watched while training
            runs.

            Resuming: beside OUT (NAME.safetensors) goes NAME.state.safetensors, with all
            a run needs to go on: optimizer moments and step counts, the epoch and step,
            the image order, the shuffle, augmentation and dropout generators' positions,
            num_batches_tracked, the best epoch and the per-epoch figures. `--resume OUT`
            with the run's options (a larger --epochs allowed) continues it to the same
            bits as a run that was never stopped (same --threads); other options, data or
            network are an error naming each difference. Ctrl-C stops after the step under
            way, saves OUT and its state and prints the command to resume (a second
            Ctrl-C quits at once). A NaN or infinite loss (or weights, checked after each
            epoch) stops training with the epoch and step; OUT keeps the last good epoch.



            Examples:
              wren train birds/ -o birds.safetensors --curves curves.svg \\
                  --log metrics.jsonl
              wren train birds/ -o birds.safetensors --depth 16 --widen 2 --epochs 30 \\
                  --augment hflip,crop --save-split split.txt
              wren train birds/ -o birds.safetensors --recipe paper --epochs 100
              wren convert birds.safetensors -o birds.wren --calibration birds/
              wren train --data train_x.npy --labels train_y.npy \\
                  --test-data test_x.npy --test-labels test_y.npy \\
                  --depth 16 --widen 2 --epochs 15 --nesterov -o wrn16_2.safetensors
              wren train birds/ -o birds.safetensors --epochs 60 --resume birds.safetensors
              wren train --data x.npy --labels y.npy --init imported.pth \\
                  --optimizer adam --lr 1e-4 --epochs 5 -o tuned.safetensors
            """))

    @Argument(help: "A folder of photos, one subfolder of JPEG or PNG images per class (the photo form).")
    var dataDir: String?

    @Option(help: "Training images: .npy float32 [N,3,H,W], normalized (the array form).")
    var data: String?

    @Option(help: "Training labels: .npy int64 or int32 [N], class indices (the array form).")
    var labels: String?

    @Option(help: "Test images evaluated after every epoch (.npy float32 [M,3,H,W]).")
    var testData: String?

    @Option(help: "Test labels (.npy int64 or int32 [M]).")
    var testLabels: String?

    @Option(help: "Photos: the fraction of each class's images that train (default 0.7); the rest test.")
    var split: Double?

    @Option(help: "Photos: a folder of test photos (one subfolder per class, training class names) instead of --split.")
    var val: String?

    @Option(help: "Photos: write the train/test lists to this file.")
    var saveSplit: String?

    @Option(help: "Photos: read the train/test lists from this file (as --save-split writes it).")
    var splitFile: String?

    @Option(help: "Photos: per-channel mean to normalize with (3 comma-separated values, default 0.5,0.5,0.5).")
    var mean: String?

    @Option(help: "Photos: per-channel std to normalize with (default 0.5,0.5,0.5).")
    var std: String?

    @Option(help: "Random changes to training images: none or a list of hflip, vflip, crop (default: hflip,vflip for photos, none for .npy).")
    var augment: String?

    @Flag(help: "Photos: stop at the first image that cannot be decoded instead of skipping it.")
    var strict = false

    @Option(help: "Defaults to start from: tutorial (adam lr 0.001, the photo form's default) or paper (sgd Nesterov lr 0.1, wd 5e-4, x0.2 at 30/60/80%, dropout 0.3).")
    var recipe: String?

    @Option(help: "Start from this checkpoint (PyTorch, PaddlePaddle or safetensors) instead of a new network.")
    var `init`: String?

    @Option(help: "Continue the run that wrote this checkpoint NAME.safetensors (NAME.state.safetensors beside it) with its options.")
    var resume: String?

    @OptionGroup(title: "Checkpoint limits (--init, --resume)")
    var importLimits: ImportLimitOptions

    @Option(help: "Depth of a new network: 6N+4 (10, 16, 22, 28, 40, ...; photos: 28).")
    var depth: Int?

    @Option(help: "Widen factor k of a new network (widths 16k, 32k, 64k; photos: 1).")
    var widen: Int?

    @Option(help: "Classes of a new network (.npy form; default: the largest training label + 1).")
    var classes: Int?

    @Flag(help: "Give a new network's convolutions biases (as the PaddlePaddle port has).")
    var convBias = false

    @Option(help: "Dropout probability between each block's convolutions (default 0; the paper's recipe 0.3).")
    var dropout: Double?

    @Option(help: "Passes over the training data (default: 60 for photos, 10 for .npy).")
    var epochs: Int?

    @Option(help: "Images per step (default: 32 for photos, 64 for .npy).")
    var batch: Int?

    @Option(name: .customLong("input-size"), parsing: .unconditional,
            help: "Photos are letterboxed to this square size, a multiple of 4 (default: 32; WRNs are also trained at 64 and 96). The array form takes its size from DATA.")
    var inputSize: Int?

    @Option(help: "sgd, adam or adamw (default: adam for photos, sgd for .npy and --recipe paper).")
    var optimizer: String?

    @Option(help: "Learning rate (default: 0.1 for sgd, 0.001 for adam and adamw).")
    var lr: Double?

    @Option(help: "SGD momentum.")
    var momentum: Double = 0.9

    @Flag(help: "Nesterov momentum (SGD; on in --recipe paper).")
    var nesterov = false

    @Option(help: "Weight decay (default: 5e-4 for sgd, 0 for adam, 0.01 for adamw).")
    var weightDecay: Double?

    @Flag(help: "Decay only convolution and linear weights, not batch-norm parameters and biases (PyTorch's default decays all).")
    var noDecayNormsAndBiases = false

    @Option(help: "Learning-rate schedule: constant, cosine or multistep:E1,E2,...:F, optionally +warmup:W (default: constant; --recipe paper: multistep at 30/60/80%:0.2).")
    var schedule: String?

    @Option(help: "Label smoothing of the cross-entropy (0 to 1).")
    var labelSmoothing: Double = 0

    @Flag(help: "Take batches in file order (the last partial batch included) instead of reshuffling every epoch.")
    var noShuffle = false

    @Option(help: "Seed for initialization, the split, shuffling, augmentation and dropout.")
    var seed: UInt64 = 0

    @Option(help: "Threads (default: all processors).")
    var threads: Int?

    @Option(name: .shortAndLong, help: "Where to write the trained checkpoint (.safetensors).")
    var output: String

    @Option(help: "Draw train and test loss and accuracy per epoch into this .svg (rewritten after every epoch).")
    var curves: String?

    @Option(help: "Write one JSON object per epoch (lr, losses, accuracies, seconds, images/s) to this .jsonl.")
    var log: String?

    var photoForm: Bool { dataDir != nil }

    /// Where the best epoch's weights go when there is a test set: OUT with `.best` before `.safetensors`.
    var bestOutput: String { String(output.dropLast(".safetensors".count)) + ".best.safetensors" }

    /// The values in force: explicit options over the recipe over the form's defaults.
    struct Settings {
        var recipe: String
        var depth: Int?
        var widen: Int?
        var epochs: Int
        var batch: Int
        var optimizer: String
        var nesterov: Bool
        var weightDecay: Double?
        var dropout: Double
        var schedule: String
        var augment: String
    }

    func settings() -> Settings {
        let recipeName = recipe ?? (photoForm ? "tutorial" : "none")
        let paper = recipeName == "paper"
        let epochCount = epochs ?? (photoForm ? 60 : 10)
        var paperSchedule = "constant"
        if paper {
            var milestones: [Int] = []
            for fraction in [0.3, 0.6, 0.8] {
                let epoch = max(1, Int((Double(epochCount) * fraction).rounded()))
                if epoch < epochCount, !milestones.contains(epoch) { milestones.append(epoch) }
            }
            if !milestones.isEmpty { paperSchedule = "multistep:" + milestones.map(String.init).joined(separator: ",") + ":0.2" }
        }
        return Settings(
            recipe: recipeName,
            depth: depth ?? (photoForm && `init` == nil && resume == nil ? 28 : nil),
            widen: widen ?? (photoForm && `init` == nil && resume == nil ? 1 : nil),
            epochs: epochCount,
            batch: batch ?? (photoForm ? 32 : 64),
            optimizer: optimizer ?? (paper ? "sgd" : (photoForm || recipeName == "tutorial") ? "adam" : "sgd"),
            nesterov: nesterov || paper,
            weightDecay: weightDecay ?? (paper ? 5e-4 : nil),
            dropout: dropout ?? (paper ? 0.3 : 0),
            schedule: schedule ?? paperSchedule,
            augment: augment ?? (photoForm ? "hflip,vflip" : "none"))
    }

    func validate() throws {
        guard Inputs.fileExtension(output) == "safetensors" else {
            throw ValidationError("the output file should end in .safetensors (got '\(output)')")
        }
        if let recipe, !["tutorial", "paper"].contains(recipe) {
            throw ValidationError("--recipe must be tutorial or paper (got '\(recipe)')")
        }
        if let resume {
            guard `init` == nil else {
                throw ValidationError("--resume continues a run and --init starts a new one from weights: give one of them")
            }
            guard Inputs.fileExtension(resume) == "safetensors" else {
                throw ValidationError("--resume takes the .safetensors checkpoint a wren train run wrote (got '\(resume)')")
            }
            try FileSystem.requireFile(resume, option: "--resume")
        }
        if let `init` { try FileSystem.requireFile(`init`, option: "--init") }
        let resolved = settings()
        if let inputSize {
            guard photoForm else { throw ValidationError("--input-size is for a photo folder; the array form takes its size from DATA") }
            _ = try InputSize(parsing: "\(inputSize)", option: "--input-size")
        }
        if photoForm {
            guard data == nil, labels == nil else {
                throw ValidationError("give either a photo folder (wren train DATA_DIR) or --data and --labels, not both")
            }
            guard testData == nil, testLabels == nil else {
                throw ValidationError("--test-data and --test-labels are for .npy data; a photo folder is split (--split) or tested on --val DIR")
            }
            guard classes == nil else { throw ValidationError("--classes: a photo folder's classes are its subfolders") }
            if let split {
                guard split > 0, split <= 1 else { throw ValidationError("--split must be in (0, 1] (got \(split))") }
            }
            if val != nil, split != nil || splitFile != nil || saveSplit != nil {
                throw ValidationError("--val DIR is the test set: drop --split, --split-file and --save-split")
            }
            if splitFile != nil, split != nil { throw ValidationError("--split-file gives the split: drop --split") }
            for (name, value) in [("--mean", mean), ("--std", std)] {
                if let value { _ = try parseTriple(value, name: name) }
            }
            if let std, try parseTriple(std, name: "--std").contains(where: { $0 <= 0 }) {
                throw ValidationError("--std values must be positive (got '\(std)')")
            }
        } else {
            guard data != nil, labels != nil else {
                throw ValidationError("give a photo folder (wren train DATA_DIR -o MODEL.safetensors) or --data X.npy and --labels Y.npy")
            }
            for (name, value) in [("--split", split.map { "\($0)" }), ("--val", val), ("--save-split", saveSplit),
                                  ("--split-file", splitFile), ("--mean", mean), ("--std", std)] where value != nil {
                throw ValidationError("\(name) is for a photo folder; .npy data is already normalized and split")
            }
            if strict { throw ValidationError("--strict is for a photo folder") }
        }
        do { _ = try Augmentation(parsing: resolved.augment) } catch { throw ValidationError("--augment: \(error)") }
        if `init` != nil {
            guard depth == nil, widen == nil, classes == nil, !convBias else {
                throw ValidationError("--init takes the architecture from the checkpoint: drop --depth, --widen, --classes and --conv-bias")
            }
        } else if resume == nil {
            guard let depth = resolved.depth, let widen = resolved.widen else {
                throw ValidationError("give --init CHECKPOINT, or --depth and --widen for a new network")
            }
            guard depth >= 10, (depth - 4) % 6 == 0 else { throw ValidationError("--depth \(depth) is not 6N+4 with N ≥ 1 (10, 16, 22, 28, ...)") }
            guard widen >= 1 else { throw ValidationError("--widen must be at least 1") }
            if let classes, classes < 1 { throw ValidationError("--classes must be at least 1") }
        }
        guard (testData == nil) == (testLabels == nil) else { throw ValidationError("--test-data and --test-labels go together") }
        guard resolved.epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard resolved.batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard (0..<1).contains(resolved.dropout) else { throw ValidationError("--dropout must be in [0, 1)") }
        guard (0...1).contains(labelSmoothing) else { throw ValidationError("--label-smoothing must be in [0, 1]") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard ["sgd", "adam", "adamw"].contains(resolved.optimizer) else {
            throw ValidationError("--optimizer must be sgd, adam or adamw (got '\(resolved.optimizer)')")
        }
        do { _ = try LearningRateSchedule(parsing: resolved.schedule) } catch { throw ValidationError("--schedule: \(error)") }
        _ = try optimizerConfiguration(resolved).validate()
        if let curves, Inputs.fileExtension(curves) != "svg" { throw ValidationError("--curves writes an .svg file (got '\(curves)')") }
        if let log, Inputs.fileExtension(log) != "jsonl" { throw ValidationError("--log writes a .jsonl file (got '\(log)')") }
        let outputs = [("-o", output), ("the best checkpoint", bestOutput), ("the resumable state", TrainState.path(besideWeights: output)),
                       ("--curves", curves), ("--log", log), ("--save-split", saveSplit)]
            .compactMap { name, path in path.map { (name, $0) } }
        for (index, (name, path)) in outputs.enumerated() {
            for input in [data, labels, testData, testLabels, `init`, splitFile].compactMap({ $0 }) where FileSystem.sameFile(input, path) {
                throw ValidationError("\(name) \(path) would overwrite the input \(input)")
            }
            for (otherName, other) in outputs[..<index] where FileSystem.sameFile(other, path) {
                throw ValidationError("\(otherName) and \(name) name the same file")
            }
            let folder = FileSystem.parentFolder(path)
            guard FileSystem.isDirectory(folder) else { throw ValidationError("\(name): folder '\(folder)' does not exist") }
        }
    }

    func optimizerConfiguration(_ settings: Settings) throws -> OptimizerConfiguration {
        let scope: WeightDecayScope = noDecayNormsAndBiases ? .convolutionAndLinearWeights : .allParameters
        switch settings.optimizer {
        case "adam": return .adam(learningRate: lr ?? 1e-3, weightDecay: settings.weightDecay ?? 0, weightDecayScope: scope)
        case "adamw": return .adamW(learningRate: lr ?? 1e-3, weightDecay: settings.weightDecay ?? 0.01, weightDecayScope: scope)
        default: return .sgd(learningRate: lr ?? 0.1, momentum: momentum, nesterov: settings.nesterov, weightDecay: settings.weightDecay ?? 5e-4,
                             weightDecayScope: scope)
        }
    }

    /// The data either form trains on, in memory.
    struct PreparedData {
        var training: (images: [Float], labels: [Int], height: Int, width: Int, name: String)
        var test: (images: [Float], labels: [Int], height: Int, width: Int, name: String)?
        /// Photos: the class names (the folder names), so the class count too.
        var classNames: [String]?
        var mean: [Float]?
        var std: [Float]?
        /// Files read (never overwritten).
        var inputs: [String]
        /// Photos split by --split (or trained whole with --val): what rebuilds the split later.
        var splitRecord: SplitRecord? = nil
    }

    func run() throws {
        let start = Clock.now()
        let resolved = settings()
        let prepared = photoForm ? try preparePhotos(resolved) : try prepareArrays()
        let trainSet = prepared.training

        let architecture: WRNArchitecture
        var initial: [String: FloatTensor]?
        var resumed: TrainState?
        var resumedWeightsSHA256 = ""
        if let checkpoint = `init` ?? resume {
            let loaded = try about(checkpoint) { try CheckpointLoader.load(path: checkpoint, limits: importLimits.limits) }
            architecture = try about(checkpoint) { try WideResNet(stateDict: loaded.tensors).architecture }
            if resume != nil {
                let statePath = TrainState.path(besideWeights: checkpoint)
                guard FileSystem.exists(statePath) else {
                    throw CLIError("--resume \(checkpoint): no \(statePath) beside it, so the run cannot continue "
                                   + "(wren train writes it with every checkpoint); to start a new run from these weights use --init")
                }
                resumed = try TrainState.read(statePath)
                resumedWeightsSHA256 = loaded.sha256
            } else if let names = prepared.classNames, names.count != architecture.numClasses {
                throw CLIError("--init \(checkpoint) has \(architecture.numClasses) classes, \(dataDir!) has \(names.count) class folders")
            }
            initial = loaded.tensors
        } else {
            let classCount = prepared.classNames?.count ?? classes ?? (trainSet.labels.max()! + 1)
            architecture = WRNArchitecture(depth: resolved.depth!, widenFactor: resolved.widen!, numClasses: classCount, convBias: convBias)
        }
        let threadCount = threads ?? ThreadPool.processorCount
        let team = try ThreadTeam(count: threadCount)
        let batchSize = min(resolved.batch, trainSet.labels.count)
        let network = try TrainingNetwork(architecture: architecture, inputHeight: trainSet.height, inputWidth: trainSet.width,
                                          maxBatch: batchSize, dropout: resolved.dropout, labelSmoothing: labelSmoothing,
                                          seed: seed, team: team)
        if let initial {
            try about((`init` ?? resume)!) { try network.load(initial) }
            if let resumed {
                guard resumed.batchesTracked.count == network.batchesTracked.count, resumed.batchesTracked.allSatisfy({ $0 >= 0 }) else {
                    throw CLIError("\(TrainState.path(besideWeights: resume!)): \(resumed.batchesTracked.count) batch-norm counters, "
                                   + "\(architecture) has \(network.batchesTracked.count)")
                }
                network.batchesTracked = resumed.batchesTracked
            }
        } else {
            network.initialize(seed: seed)
        }
        let training = try LabeledImages(images: trainSet.images, labels: trainSet.labels, height: trainSet.height, width: trainSet.width,
                                         classes: architecture.numClasses, name: trainSet.name)
        let test = try prepared.test.map { set throws in
            try LabeledImages(images: set.images, labels: set.labels, height: set.height, width: set.width,
                              classes: architecture.numClasses, name: set.name)
        }
        // Crop padding is black: 0 in pixels, -mean/std once normalized (0 for .npy data, whose normalization is unknown).
        let padding: [Float] = zip(prepared.mean ?? [0, 0, 0], prepared.std ?? [1, 1, 1]).map { -$0 / $1 }
        let augmentation = try Augmentation(parsing: resolved.augment, padding: padding)
        let options = TrainingOptions(epochs: resolved.epochs, batchSize: batchSize, shuffle: !noShuffle, seed: seed,
                                      optimizer: try optimizerConfiguration(resolved), schedule: try LearningRateSchedule(parsing: resolved.schedule),
                                      augmentation: augmentation)
        let trainer = try Trainer(network: network, training: training, test: test, options: options)
        let configuration = options.optimizer
        let requested = WRNArchitecture(depth: depth ?? architecture.depth, widenFactor: widen ?? architecture.widenFactor,
                                        numClasses: prepared.classNames?.count ?? classes ?? architecture.numClasses,
                                        convBias: convBias || architecture.convBias)
        let runRecord: [String: String] = [
            "architecture": "\(requested), \(requested.numClasses) classes" + (requested.convBias ? ", conv biases" : ""),
            "input": "\(trainSet.height)x\(trainSet.width)",
            "optimizer": configuration.algorithm.name, "lr": "\(configuration.learningRate)",
            "momentum": configuration.algorithm.name == "sgd" ? "\(momentum)" : "-", "nesterov": "\(resolved.nesterov)",
            "weight_decay": "\(configuration.weightDecay)", "decay_scope": noDecayNormsAndBiases ? "weights only" : "all",
            "batch": "\(batchSize)", "shuffle": "\(!noShuffle)", "seed": "\(seed)", "augment": "\(augmentation)",
            "dropout": "\(resolved.dropout)", "label_smoothing": "\(labelSmoothing)",
            "training_data": RunRecord.describe(training), "test_data": RunRecord.describe(test),
            "schedule": "\(options.schedule)", "epochs": "\(resolved.epochs)", "threads": "\(threadCount)",
        ]
        if let resumed, let resume {
            let statePath = TrainState.path(besideWeights: resume)
            guard resumed.weightsSHA256 == resumedWeightsSHA256 else {
                throw CLIError("--resume \(resume): \(statePath) was written with other weights (SHA-256 \(resumed.weightsSHA256.prefix(12))..., "
                               + "the checkpoint's is \(resumedWeightsSHA256.prefix(12))...); the two must come from the same save")
            }
            let differences = RunRecord.differences(recorded: resumed.run, now: runRecord)
            guard differences.isEmpty else {
                throw CLIError("--resume \(resume): the run cannot continue with other options; give it the run's options again "
                               + "(or start a new run from these weights with --init):\n  " + differences.joined(separator: "\n  "))
            }
            for key in ["schedule", "threads"] where resumed.run[key] != runRecord[key] {
                Diagnostics.note("note: --resume with \(key) \(runRecord[key]!), the run had \(resumed.run[key] ?? "none")"
                                 + (key == "threads" ? " (results can differ in the last bits)" : ""))
            }
            try trainer.restore(resumed.trainer)
            let rates = try options.schedule.learningRates(base: configuration.learningRate, epochs: resolved.epochs)
            if let changed = resumed.reports.first(where: { $0.epoch <= rates.count && rates[$0.epoch - 1] != $0.learningRate }) {
                Diagnostics.note("note: with --epochs \(resolved.epochs) the schedule gives epoch \(changed.epoch) lr \(rates[changed.epoch - 1]), "
                                 + "the run used \(changed.learningRate); the rest of the run follows the new schedule")
            }
            let position = resumed.trainer.stepInEpoch > 0
                ? "epoch \(resumed.trainer.epochsCompleted + 1) after step \(resumed.trainer.stepInEpoch)"
                : "after epoch \(resumed.trainer.epochsCompleted)"
            print("resuming \(resume) \(position) (\(resumed.trainer.stepsTaken) steps taken)")
        }
        let parameterCount = network.parameters.reduce(0) { $0 + $1.value.count }
        print("training \(architecture) (\(architecture.numClasses) classes\(architecture.convBias ? ", conv biases" : ""), "
              + "\(parameterCount) parameters) on \(training.count) images of \(trainSet.height)x\(trainSet.width)"
              + (test.map { ", testing on \($0.count)" } ?? "") + "; \(options.optimizer.algorithm.name) lr \(options.optimizer.learningRate), "
              + "schedule \(options.schedule), batch \(options.batchSize)"
              + (resolved.dropout > 0 ? ", dropout \(resolved.dropout)" : "") + ", augment \(augmentation), recipe \(resolved.recipe), "
              + "\(threadCount) thread\(threadCount == 1 ? "" : "s")")
        fflush(stdout)

        var metadata = ["format": "pt", TrainingMetadata.architecture: "\(architecture)", TrainingMetadata.recipe: resolved.recipe]
        metadata[TrainingMetadata.inputSize] = InputSize(height: trainSet.height, width: trainSet.width).description
        if let names = prepared.classNames {
            metadata[TrainingMetadata.labels] = names.joined(separator: "\n")
        }
        if let mean = prepared.mean, let std = prepared.std {
            metadata[TrainingMetadata.mean] = mean.map { "\($0)" }.joined(separator: ",")
            metadata[TrainingMetadata.std] = std.map { "\($0)" }.joined(separator: ",")
        }
        if let record = prepared.splitRecord { metadata.merge(record.metadata) { $1 } }
        let inputs = prepared.inputs
        let epochs = resolved.epochs
        var reports: [EpochReport] = resumed?.reports ?? []
        var best: (epoch: Int, accuracy: Double)? = resumed?.best
        // The last checkpoint written (by this run or the one it continues): what a divergence keeps.
        var lastSaved: String? = resumed.flatMap { state in
            guard FileSystem.sameFile(resume!, output) else { return nil }
            return state.trainer.stepInEpoch > 0
                ? "in epoch \(state.trainer.epochsCompleted + 1) after step \(state.trainer.stepInEpoch)"
                : "after epoch \(state.trainer.epochsCompleted)"
        }
        let statePath = TrainState.path(besideWeights: output)
        let title = "\(architecture), \(architecture.numClasses) classes — \(FileSystem.fileName(trainSet.name))"
        let subtitle = "\(options.optimizer.algorithm.name) lr \(options.optimizer.learningRate), schedule \(options.schedule), "
            + "batch \(options.batchSize), \(training.count) training images" + (test.map { ", \($0.count) test" } ?? "")
        /// The weights to OUT, then the state beside them, each atomically; the state names the
        /// weights' SHA-256, so a resume notices a pair that does not belong together.
        func saveCheckpoint() throws {
            let snapshot = trainer.snapshot
            var weightsMetadata = metadata
            weightsMetadata["wren.epoch"] = "\(snapshot.epochsCompleted)"
            if snapshot.stepInEpoch > 0 { weightsMetadata["wren.step_in_epoch"] = "\(snapshot.stepInEpoch)" }
            let weights = try encodeWeights(network, metadata: weightsMetadata)
            let state = TrainState(weightsSHA256: sha256Hex(weights), trainer: snapshot, batchesTracked: network.batchesTracked,
                                   best: best, reports: reports, run: runRecord)
            let stateBytes = try state.encode()
            try AtomicFile.write(weights, to: output, refusingToOverwrite: inputs)
            try AtomicFile.write(stateBytes, to: statePath, refusingToOverwrite: inputs)
        }
        Interrupt.install()
        defer { Interrupt.uninstall() }
        let outcome: TrainingOutcome
        do throws(TrainingError) {
            outcome = try trainer.run(progress: { step in
                let remaining = Double(step.steps - step.step) * Double(options.batchSize) / max(step.imagesPerSecond, 1e-9)
                Diagnostics.progress("epoch \(step.epoch)/\(epochs) loss \(format(Float(step.loss))) acc \(percentage(step.runningAccuracy)) "
                                     + "\(Int(step.imagesPerSecond)) img/s ETA \(Clock.format(remaining))", step.step, step.steps)
            }, epochEnded: { report in
                var line = "epoch \(report.epoch)/\(epochs)  lr \(format(Float(report.learningRate)))  train loss \(format(Float(report.trainLoss))) "
                    + "acc \(percentage(report.trainAccuracy))"
                var isBest = false
                if let loss = report.testLoss, let accuracy = report.testAccuracy {
                    line += "  test loss \(format(Float(loss))) acc \(percentage(accuracy))"
                    if best == nil || accuracy > best!.accuracy {
                        best = (report.epoch, accuracy)
                        isBest = true
                    }
                }
                line += "  \(Clock.format(report.seconds))"
                if let steady = report.steadyImagesPerSecond { line += ", steady \(Double(Int(steady * 10)) / 10) images/s" }
                if isBest { line += "  best" }
                print(line)
                fflush(stdout)  // one line per epoch, visible as it happens even through a pipe
                reports.append(report)
                do {
                    try saveCheckpoint()
                    lastSaved = "after epoch \(report.epoch)"
                    if isBest, test != nil {
                        var bestMetadata = metadata
                        bestMetadata["wren.epoch"] = "\(report.epoch)"
                        try save(network, to: bestOutput, metadata: bestMetadata, inputs: inputs)
                    }
                } catch {
                    Diagnostics.note("error: could not save \(output) after epoch \(report.epoch): \(error)")
                }
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
            }, shouldStop: { Interrupt.requested })
        } catch {
            guard case .diverged = error else { throw error }
            let kept = lastSaved.map { "\(output) (and its .state.safetensors) still hold the last good checkpoint, \($0)" }
                ?? "no checkpoint was written"
            throw CLIError("\(error); \(kept). Nothing was saved from the diverged step"
                           + (lastSaved != nil ? "; to go on, fine-tune from it with --init \(output) and a lower --lr" : ""))
        }
        if outcome == .stopped {
            let snapshot = trainer.snapshot
            try saveCheckpoint()
            let position = snapshot.stepInEpoch > 0
                ? "in epoch \(snapshot.epochsCompleted + 1) after step \(snapshot.stepInEpoch)"
                : "after epoch \(snapshot.epochsCompleted)"
            Diagnostics.note("")
            print("interrupted \(position): saved \(output) and \(statePath); to continue, run the same command with "
                  + "--resume \(output)")
            fflush(stdout)
            throw ExitCode(130)
        }
        if let best {
            print("best test accuracy \(percentage(best.accuracy)) at epoch \(best.epoch) of \(epochs): its weights are in \(bestOutput)")
        }
        print("wrote \(output) (the last epoch's weights) and \(statePath) (to --resume it) after \(epochs) epochs "
              + "in \(Clock.format(Clock.now() - start))")
    }

    // MARK: - The photo form

    private func preparePhotos(_ resolved: Settings) throws -> PreparedData {
        let root = dataDir!
        let mean = try parseTriple(self.mean ?? "0.5,0.5,0.5", name: "--mean")
        let std = try parseTriple(self.std ?? "0.5,0.5,0.5", name: "--std")
        let size = inputSize ?? InputSize.standard.height
        let folder = try PhotoFolder.scan(root)
        let counts = folder.countsByClass
        print("found \(folder.classes.count) classes in \(root): "
              + zip(folder.classes, counts).map { "\($0) (\($1))" }.joined(separator: ", ") + "; \(folder.photos.count) image files")
        if let listing = folder.skippedListing { print(listing) }
        let cache = try load(folder, size: size, mean: mean, std: std, allowEmptyClasses: false)
        var inputs = [root] + [`init`].compactMap { $0 }
        var testCache: PhotoCache?
        var testName = root
        if let val {
            let valFolder = try PhotoFolder.scan(val, classes: folder.classes)
            testCache = try load(valFolder, size: size, mean: mean, std: std, allowEmptyClasses: true)
            print("testing on \(val): \(testCache!.count) images")
            inputs.append(val)
            testName = val
            return PreparedData(
                training: (cache.values, cache.labels, size, size, root),
                test: (testCache!.values, testCache!.labels, size, size, testName),
                classNames: folder.classes, mean: mean, std: std, inputs: inputs,
                splitRecord: SplitRecord(fraction: 1, seed: seed, imageCount: cache.count))
        }
        // The split is over the images that decoded, in folder order.
        let usable = PhotoFolder(root: root, classes: folder.classes, photos: cache.photos, skipped: [])
        let division: PhotoSplit
        let how: String
        if let splitFile {
            let text = try about(splitFile) { try FileSystem.readText(splitFile) }
            division = try SplitFile.parse(text, path: splitFile, folder: usable)
            how = "split from \(splitFile)"
            inputs.append(splitFile)
        } else {
            let fraction = split ?? 0.7
            division = PhotoSplit.stratified(classOf: cache.labels, classes: folder.classes.count, trainFraction: fraction, seed: seed)
            how = "split \(fraction) per class (seed \(seed))"
        }
        var perClass = [(train: Int, test: Int)](repeating: (0, 0), count: folder.classes.count)
        for index in division.train { perClass[cache.photos[index].classIndex].train += 1 }
        for index in division.test { perClass[cache.photos[index].classIndex].test += 1 }
        print("\(how): \(division.train.count) train, \(division.test.count) test ("
              + zip(folder.classes, perClass).map { "\($0) \($1.train)/\($1.test)" }.joined(separator: ", ") + ")")
        if let saveSplit {
            let comment = "wren train: \(how) of \(root) (paths relative to it)"
            try AtomicFile.write(Array(SplitFile.text(division, of: usable, comment: comment).utf8), to: saveSplit,
                                 refusingToOverwrite: inputs)
            print("wrote the split to \(saveSplit)")
        }
        let train = cache.subset(division.train)
        let test = division.test.isEmpty ? nil : cache.subset(division.test)
        return PreparedData(
            training: (train.values, train.labels, size, size, root),
            test: test.map { ($0.values, $0.labels, size, size, root) },
            classNames: folder.classes, mean: mean, std: std, inputs: inputs,
            splitRecord: splitFile == nil ? SplitRecord(fraction: split ?? 0.7, seed: seed, imageCount: cache.count) : nil)
    }

    private func load(_ folder: PhotoFolder, size: Int, mean: [Float], std: [Float], allowEmptyClasses: Bool) throws -> PhotoCache {
        var corrupt = 0
        let start = Clock.now()
        let cache = try PhotoCache.load(folder, size: size, mean: mean, std: std, strict: strict, allowEmptyClasses: allowEmptyClasses,
                                        warn: { failure in
                                            corrupt += 1
                                            Diagnostics.note("warning: skipped \(failure.error)")
                                        },
                                        progress: { Diagnostics.progress("decoding \(folder.root)", $0, $1) })
        print("decoded \(cache.count) images of \(folder.root) once in \(Clock.format(Clock.now() - start)) (letterboxed to \(size)x\(size), "
              + "mean \(mean.map { "\($0)" }.joined(separator: ",")), std \(std.map { "\($0)" }.joined(separator: ",")))"
              + (corrupt > 0 ? "; skipped \(corrupt) corrupt" : ""))
        return cache
    }

    // MARK: - The array form

    private func prepareArrays() throws -> PreparedData {
        let data = data!, labels = labels!
        let (trainImages, trainShape) = try readImages(data)
        let trainLabels = try readClassIndices(labels, count: trainShape[0], images: data)
        var prepared = PreparedData(training: (trainImages, trainLabels, trainShape[2], trainShape[3], data), test: nil,
                                    classNames: nil, mean: nil, std: nil,
                                    inputs: [data, labels, testData, testLabels, `init`].compactMap { $0 })
        if let testData, let testLabels {
            let (images, shape) = try readImages(testData)
            guard shape[2] == trainShape[2], shape[3] == trainShape[3] else {
                throw CLIError("\(testData): \(shape[2])x\(shape[3]) images, the training images are \(trainShape[2])x\(trainShape[3])")
            }
            prepared.test = (images, try readClassIndices(testLabels, count: shape[0], images: testData), shape[2], shape[3], testData)
        }
        return prepared
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
func save(_ network: TrainingNetwork, to path: String, metadata: [String: String] = ["format": "pt"], inputs: [String]) throws {
    try AtomicFile.write(try encodeWeights(network, metadata: metadata), to: path, refusingToOverwrite: inputs)
}

/// The network's state dict as a .safetensors file's bytes.
func encodeWeights(_ network: TrainingNetwork, metadata: [String: String]) throws -> [UInt8] {
    let tensors = network.stateDict().map { value -> SafetensorsTensor in
        switch value.values {
        case .float(let data): return .float32(value.entry.key, shape: value.entry.shape, data)
        case .count(let count): return .int64(value.entry.key, shape: value.entry.shape, [Int64(count)])
        }
    }
    return try SafetensorsWriter.encode(tensors, metadata: metadata)
}

/// Ctrl-C during training: the first SIGINT asks the trainer to stop at its next safe point (after
/// the step under way), which then saves a resumable checkpoint; a second one ends the process
/// at once, as the default handler does.
enum Interrupt {
    private static let flag = Atomic<Int32>(0)

    static var requested: Bool { flag.load(ordering: .relaxed) != 0 }

    static func install() {
        flag.store(0, ordering: .relaxed)
        // A parent may start us with SIGINT blocked (Foundation's Process does): unblock it here.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        signal(SIGINT) { _ in
            Interrupt.flag.store(1, ordering: .relaxed)
            signal(SIGINT, SIG_DFL)
        }
    }

    static func uninstall() { signal(SIGINT, SIG_DFL) }
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
