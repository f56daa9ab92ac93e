import WrenConvert
import WrenTrain

/// The resumable half of a `wren train` checkpoint: `OUT.state.safetensors` beside the weights
/// `OUT.safetensors`, written after every epoch (and on Ctrl-C) right after the weights, each to
/// a temporary file renamed over the old one. Layout:
///
///     tensors   optimizer.state  F32 [S]   Optimizer.Snapshot.state (absent for plain SGD)
///               trainer.order    F32 [N]   the training images' current order (exact below 2^24)
///     metadata  format                      "wren-train-state"
///               wren.state.version          "1"
///               wren.weights_sha256         SHA-256 of the weights file written with it
///               wren.epochs_completed, wren.step_in_epoch, wren.steps_taken
///               wren.shuffle_draws, wren.augmentation_draws, wren.dropout_draws (per block)
///               wren.epoch_loss_sum, wren.epoch_correct    the interrupted epoch's sums so far
///               wren.optimizer_step_counts  per parameter
///               wren.num_batches_tracked    per batch norm, in state-dict order (the weights
///                                           file has them as int64, which the loader drops)
///               wren.best                   "EPOCH ACCURACY" of the best test accuracy so far
///               wren.reports                one line per finished epoch (for --curves/--log)
///               wren.run.<option>           the options the run must keep (see `RunRecord`)
///
/// Lists are comma-separated; Doubles are written in Swift's shortest round-trip form, so they
/// read back bit for bit.
struct TrainState {
    static let format = "wren-train-state"
    static let version = "1"

    var weightsSHA256: String
    var trainer: TrainerSnapshot
    var batchesTracked: [Int]
    var best: (epoch: Int, accuracy: Double)?
    var reports: [EpochReport]
    var run: [String: String]

    /// Where the state of the weights file `path` goes: `X.safetensors` → `X.state.safetensors`.
    static func path(besideWeights path: String) -> String {
        String(path.dropLast(".safetensors".count)) + ".state.safetensors"
    }

    func encode() throws -> [UInt8] {
        var metadata = [
            "format": Self.format, "wren.state.version": Self.version, "wren.weights_sha256": weightsSHA256,
            "wren.epochs_completed": "\(trainer.epochsCompleted)", "wren.step_in_epoch": "\(trainer.stepInEpoch)",
            "wren.steps_taken": "\(trainer.stepsTaken)", "wren.shuffle_draws": "\(trainer.shuffleDraws)",
            "wren.augmentation_draws": "\(trainer.augmentationDraws)",
            "wren.dropout_draws": trainer.dropoutDraws.map(String.init).joined(separator: ","),
            "wren.epoch_loss_sum": "\(trainer.epochLossSum)", "wren.epoch_correct": "\(trainer.epochCorrect)",
            "wren.optimizer_step_counts": trainer.optimizer.stepCounts.map(String.init).joined(separator: ","),
            "wren.num_batches_tracked": batchesTracked.map(String.init).joined(separator: ","),
            "wren.reports": reports.map(Self.line).joined(separator: "\n"),
        ]
        if let best { metadata["wren.best"] = "\(best.epoch) \(best.accuracy)" }
        for (key, value) in run { metadata["wren.run." + key] = value }
        guard trainer.order.count < 1 << 24 else {
            throw CLIError("--resume: \(trainer.order.count) training images are more than a resumable checkpoint holds (2^24)")
        }
        var tensors = [SafetensorsTensor.float32("trainer.order", shape: [trainer.order.count], trainer.order.map { Float($0) })]
        if !trainer.optimizer.state.isEmpty {
            tensors.append(.float32("optimizer.state", shape: [trainer.optimizer.state.count], trainer.optimizer.state))
        }
        return try SafetensorsWriter.encode(tensors, metadata: metadata)
    }

    static func read(_ path: String) throws -> TrainState {
        let loaded = try about(path) { try CheckpointLoader.load(path: path) }
        let metadata = loaded.metadata
        func fail(_ why: String) -> CLIError { CLIError("\(path): \(why)") }
        guard metadata["format"] == format else {
            throw fail("not a wren train state file (its metadata format is '\(metadata["format"] ?? "none")', expected '\(format)')")
        }
        guard metadata["wren.state.version"] == version else {
            throw fail("state version \(metadata["wren.state.version"] ?? "none"); this wren reads version \(version)")
        }
        func text(_ key: String) throws -> String {
            guard let value = metadata[key] else { throw fail("no '\(key)' in its metadata") }
            return value
        }
        func number<T: LosslessStringConvertible>(_ key: String, _: T.Type = T.self) throws -> T {
            let value = try text(key)
            guard let parsed = T(value) else { throw fail("'\(key)' is '\(value)', not a number") }
            return parsed
        }
        func list<T: LosslessStringConvertible>(_ key: String, _: T.Type = T.self) throws -> [T] {
            let value = try text(key)
            if value.isEmpty { return [] }
            return try value.split(separator: ",", omittingEmptySubsequences: false).map {
                guard let parsed = T(String($0)) else { throw fail("'\(key)' holds '\($0)', not a number") }
                return parsed
            }
        }
        guard let order = loaded.tensors["trainer.order"] else { throw fail("no 'trainer.order' tensor") }
        let optimizerState = loaded.tensors["optimizer.state"]?.data ?? []
        let snapshot = TrainerSnapshot(
            epochsCompleted: try number("wren.epochs_completed"), stepInEpoch: try number("wren.step_in_epoch"),
            stepsTaken: try number("wren.steps_taken"), order: order.data.map { Int($0) },
            shuffleDraws: try number("wren.shuffle_draws"), augmentationDraws: try number("wren.augmentation_draws"),
            dropoutDraws: try list("wren.dropout_draws"), epochLossSum: try number("wren.epoch_loss_sum"),
            epochCorrect: try number("wren.epoch_correct"),
            optimizer: Optimizer.Snapshot(stepCounts: try list("wren.optimizer_step_counts"), state: optimizerState))
        var best: (Int, Double)?
        if let value = metadata["wren.best"] {
            let fields = value.split(separator: " ")
            guard fields.count == 2, let epoch = Int(fields[0]), let accuracy = Double(fields[1]) else {
                throw fail("'wren.best' is '\(value)', expected EPOCH ACCURACY")
            }
            best = (epoch, accuracy)
        }
        var reports: [EpochReport] = []
        for line in try text("wren.reports").split(separator: "\n") {
            guard let report = Self.report(line) else { throw fail("'wren.reports' holds the line '\(line)', not an epoch's figures") }
            reports.append(report)
        }
        var run: [String: String] = [:]
        for (key, value) in metadata where key.hasPrefix("wren.run.") { run[String(key.dropFirst("wren.run.".count))] = value }
        return TrainState(weightsSHA256: try text("wren.weights_sha256"), trainer: snapshot,
                          batchesTracked: try list("wren.num_batches_tracked"), best: best, reports: reports, run: run)
    }

    private static func line(_ report: EpochReport) -> String {
        func field(_ value: Double?) -> String { value.map { "\($0)" } ?? "-" }
        return "\(report.epoch) " + [report.learningRate, report.trainLoss, report.trainAccuracy, report.testLoss, report.testAccuracy,
                                     report.seconds, report.steadyImagesPerSecond].map(field).joined(separator: " ")
    }

    private static func report(_ line: Substring) -> EpochReport? {
        let fields = line.split(separator: " ").map(String.init)
        guard fields.count == 8, let epoch = Int(fields[0]) else { return nil }
        var values: [Double?] = []
        for field in fields.dropFirst() {
            if field == "-" { values.append(nil); continue }
            guard let value = Double(field) else { return nil }
            values.append(value)
        }
        guard let lr = values[0], let loss = values[1], let accuracy = values[2], let seconds = values[5] else { return nil }
        return EpochReport(epoch: epoch, learningRate: lr, trainLoss: loss, trainAccuracy: accuracy, testLoss: values[3],
                           testAccuracy: values[4], seconds: seconds, steadyImagesPerSecond: values[6])
    }
}

/// The options a resumed run must share with the run it continues, by the name `--resume`
/// errors use, and their values as recorded in `wren.run.*`.
enum RunRecord {
    /// (record key, the option to name when it differs), in the order differences are listed.
    static let compared: [(key: String, option: String)] = [
        ("architecture", "the network (--depth, --widen, --conv-bias, classes)"), ("input", "the image size"),
        ("optimizer", "--optimizer"), ("lr", "--lr"), ("momentum", "--momentum"), ("nesterov", "--nesterov"),
        ("weight_decay", "--weight-decay"), ("decay_scope", "--no-decay-norms-and-biases"), ("batch", "--batch"),
        ("shuffle", "--no-shuffle"), ("seed", "--seed"), ("augment", "--augment"), ("dropout", "--dropout"),
        ("label_smoothing", "--label-smoothing"), ("training_data", "the training data"), ("test_data", "the test data"),
    ]

    /// What differs between the recorded run and this one: one "OPTION: now X, the run had Y" each.
    static func differences(recorded: [String: String], now: [String: String]) -> [String] {
        compared.compactMap { key, option in
            let old = recorded[key] ?? "none", new = now[key] ?? "none"
            return old == new ? nil : "\(option): now \(new), the run had \(old)"
        }
    }

    static func describe(_ data: LabeledImages?) -> String {
        guard let data else { return "none" }
        return "\(data.count) images of \(data.height)x\(data.width), fingerprint \(String(data.fingerprint, radix: 16))"
    }
}
