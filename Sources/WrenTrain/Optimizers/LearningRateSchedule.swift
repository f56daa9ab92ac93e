/// A per-epoch learning-rate schedule, as PyTorch's schedulers stepped once after each epoch, and
/// the CLI's `--schedule` strings for it:
///
///     constant                      the base learning rate throughout (no scheduler)
///     multistep:E1,E2,...:F         MultiStepLR(milestones=[E1, E2, ...], gamma=F): ×F when epoch Ei begins
///                                   (the WRN paper: multistep:60,120,160:0.2 over 200 epochs)
///     cosine                        CosineAnnealingLR(T_max=epochs, eta_min=0)
///     <any of them>+warmup:W[:S]    W epochs of linear warmup from S·lr (S in (0, 1], default 1/3,
///                                   LinearLR's), then the schedule
///
/// With warmup, this is exactly `SequentialLR([LinearLR(start_factor=S, end_factor=1,
/// total_iters=W), main], milestones=[W])`, where `main` counts its own epochs from W: cosine is
/// built with `T_max = epochs − W`, multistep with milestones `Ei − W` (so the Ei in the string stay
/// absolute epoch numbers, and must come after the warmup), constant is `LambdaLR(lambda e: 1.0)`.
/// The learning rates are PyTorch's to the last bit: `LearningRateScheduler` runs the same
/// recursions in Double (the cosine's recursive form, not its closed form; they differ by under
/// 1e-15 relative on 200 epochs) with the same C library `cos` and `pow` Python uses.
public struct LearningRateSchedule: Equatable, Sendable, CustomStringConvertible {
    public enum Main: Equatable, Sendable {
        case constant
        /// Multiply the learning rate by `factor` at the start of each milestone epoch (strictly
        /// increasing epoch numbers counted from 0).
        case multiStep(milestones: [Int], factor: Double)
        /// Cosine annealing to 0 at the end of training.
        case cosine
    }

    public struct Warmup: Equatable, Sendable {
        public var epochs: Int
        public var startFactor: Double

        public init(epochs: Int, startFactor: Double = LearningRateSchedule.defaultWarmupStartFactor) {
            self.epochs = epochs
            self.startFactor = startFactor
        }
    }

    /// PyTorch's `LinearLR` default `start_factor`.
    public static let defaultWarmupStartFactor = 1.0 / 3

    public var main: Main
    public var warmup: Warmup?

    public init(_ main: Main, warmup: Warmup? = nil) {
        self.main = main
        self.warmup = warmup
    }

    /// The `--schedule` string for this schedule (parsing it gives this schedule back).
    public var description: String {
        var text: String
        switch main {
        case .constant: text = "constant"
        case .cosine: text = "cosine"
        case .multiStep(let milestones, let factor):
            text = "multistep:" + milestones.map(String.init).joined(separator: ",") + ":\(factor)"
        }
        if let warmup {
            text += "+warmup:\(warmup.epochs)"
            if warmup.startFactor != Self.defaultWarmupStartFactor { text += ":\(warmup.startFactor)" }
        }
        return text
    }

    /// Parses a `--schedule` string. Errors quote the string and name the part that is wrong.
    public init(parsing text: String) throws(TrainingError) {
        func fail(_ why: String) -> TrainingError {
            .invalidConfiguration("--schedule '\(text)': \(why)")
        }
        let expected = "expected constant, cosine or multistep:E1,E2,...:FACTOR (e.g. multistep:60,120,160:0.2), optionally followed by +warmup:EPOCHS[:START_FACTOR]"
        guard !text.isEmpty else { throw fail("empty; \(expected)") }
        let pieces = text.split(separator: "+", omittingEmptySubsequences: false)
        guard let first = pieces.first, !first.isEmpty else { throw fail("no schedule before '+'; \(expected)") }
        guard pieces.count <= 2 else { throw fail("more than one '+'; only one +warmup:... may follow the schedule") }

        let fields = first.split(separator: ":", omittingEmptySubsequences: false)
        switch fields[0] {
        case "constant", "cosine":
            guard fields.count == 1 else { throw fail("'\(fields[0])' takes no arguments, found ':\(fields.dropFirst().joined(separator: ":"))'") }
            main = fields[0] == "constant" ? .constant : .cosine
        case "multistep":
            guard fields.count == 3 else { throw fail("expected multistep:E1,E2,...:FACTOR (e.g. multistep:60,120,160:0.2), found \(fields.count - 1) field(s) after 'multistep'") }
            var milestones: [Int] = []
            for item in fields[1].split(separator: ",", omittingEmptySubsequences: false) {
                guard let milestone = Int(item) else { throw fail("milestone '\(item)' is not a whole number of epochs") }
                guard milestone >= 1 else { throw fail("milestone \(milestone) must be an epoch ≥ 1") }
                if let last = milestones.last, milestone <= last {
                    throw fail("milestones must increase, but \(milestone) follows \(last)")
                }
                milestones.append(milestone)
            }
            guard let factor = Double(fields[2]) else { throw fail("factor '\(fields[2])' is not a number") }
            guard factor.isFinite, factor > 0 else { throw fail("factor \(fields[2]) must be a finite number > 0") }
            main = .multiStep(milestones: milestones, factor: factor)
        default:
            throw fail("'\(fields[0])' is not a schedule; \(expected)")
        }

        warmup = nil
        if pieces.count == 2 {
            let fields = pieces[1].split(separator: ":", omittingEmptySubsequences: false)
            guard fields[0] == "warmup", fields.count == 2 || fields.count == 3 else {
                throw fail("'+\(pieces[1])' is not a warmup; expected +warmup:EPOCHS or +warmup:EPOCHS:START_FACTOR")
            }
            guard let epochs = Int(fields[1]) else { throw fail("warmup epochs '\(fields[1])' is not a whole number") }
            guard epochs >= 1 else { throw fail("warmup epochs \(epochs) must be ≥ 1") }
            var startFactor = Self.defaultWarmupStartFactor
            if fields.count == 3 {
                guard let value = Double(fields[2]) else { throw fail("warmup start factor '\(fields[2])' is not a number") }
                guard value > 0, value <= 1 else { throw fail("warmup start factor \(fields[2]) must be in (0, 1]") }
                startFactor = value
            }
            warmup = Warmup(epochs: epochs, startFactor: startFactor)
        }
    }

    /// Checks the schedule against the number of training epochs (milestones inside the run and
    /// after the warmup, warmup shorter than the run).
    public func validate(epochs: Int) throws(TrainingError) {
        func fail(_ why: String) -> TrainingError {
            .invalidConfiguration("--schedule '\(description)' with \(epochs) epochs: \(why)")
        }
        guard epochs >= 1 else { throw .invalidConfiguration("the number of epochs (--epochs) is \(epochs); it must be ≥ 1") }
        let warmupEpochs = warmup?.epochs ?? 0
        if let warmup {
            guard warmup.epochs >= 1, warmup.epochs < epochs else {
                throw fail("warmup of \(warmup.epochs) epochs must be at least 1 and shorter than the run")
            }
            guard warmup.startFactor > 0, warmup.startFactor <= 1 else {
                throw fail("warmup start factor \(warmup.startFactor) must be in (0, 1]")
            }
        }
        if case .multiStep(let milestones, let factor) = main {
            guard !milestones.isEmpty else { throw fail("multistep needs at least one milestone") }
            guard factor.isFinite, factor > 0 else { throw fail("factor \(factor) must be a finite number > 0") }
            for (index, milestone) in milestones.enumerated() {
                if index > 0, milestone <= milestones[index - 1] {
                    throw fail("milestones must increase, but \(milestone) follows \(milestones[index - 1])")
                }
                guard milestone > warmupEpochs else {
                    throw fail("milestone \(milestone) must come after the \(warmupEpochs) warmup epoch(s)" + (warmupEpochs == 0 ? " (epochs count from 0; a milestone is ≥ 1)" : ""))
                }
                guard milestone < epochs else {
                    throw fail("milestone \(milestone) is not an epoch of the run (epochs 0...\(epochs - 1)); lower it or raise --epochs")
                }
            }
        }
    }

    /// The learning rate of each epoch `0..<epochs`.
    public func learningRates(base: Double, epochs: Int) throws(TrainingError) -> [Double] {
        var scheduler = try LearningRateScheduler(self, baseLearningRate: base, epochs: epochs)
        var rates: [Double] = []
        rates.reserveCapacity(epochs)
        for _ in 0..<epochs {
            rates.append(scheduler.learningRate)
            scheduler.step()
        }
        return rates
    }
}

/// A schedule being run: `learningRate` is the rate for `epoch`; `step()` after each epoch moves
/// to the next, as `scheduler.step()` does in PyTorch (the same recursions, in the same order).
public struct LearningRateScheduler: Sendable {
    public let schedule: LearningRateSchedule
    public let baseLearningRate: Double
    public let epochs: Int
    /// The epoch `learningRate` belongs to (0 at the start).
    public private(set) var epoch: Int
    public private(set) var learningRate: Double

    /// PyTorch's `eta_min` for the cosine (kept as a named 0 so the formulas read as PyTorch's).
    private let etaMin = 0.0

    public init(_ schedule: LearningRateSchedule, baseLearningRate: Double, epochs: Int) throws(TrainingError) {
        guard baseLearningRate.isFinite, baseLearningRate >= 0 else {
            throw .invalidConfiguration("learning rate (--lr) is \(baseLearningRate); it must be a finite number ≥ 0")
        }
        try schedule.validate(epochs: epochs)
        self.schedule = schedule
        self.baseLearningRate = baseLearningRate
        self.epochs = epochs
        self.epoch = 0
        // The schedulers' initial step: LinearLR multiplies by start_factor; MultiStepLR (no
        // milestone at 0), CosineAnnealingLR and no scheduler leave the rate as it is.
        if let warmup = schedule.warmup {
            learningRate = baseLearningRate * warmup.startFactor
        } else {
            learningRate = baseLearningRate
        }
    }

    /// Moves to the next epoch. Past the last epoch it keeps following PyTorch's recursion.
    public mutating func step() {
        epoch += 1
        let warmupEpochs = schedule.warmup?.epochs ?? 0
        if let warmup = schedule.warmup, epoch < warmupEpochs {
            // LinearLR.get_lr (end_factor 1) at last_epoch = epoch.
            let start = warmup.startFactor
            let end = 1.0
            learningRate = learningRate * (1.0 + (end - start) / (Double(warmupEpochs) * start + Double(epoch - 1) * (end - start)))
            return
        }
        let local = epoch - warmupEpochs  // the main scheduler's last_epoch
        if schedule.warmup != nil, local == 0 {
            // SequentialLR at its milestone: main._update_lr(0), the closed form at epoch 0.
            switch schedule.main {
            case .constant:
                learningRate = baseLearningRate * 1.0
            case .multiStep(let milestones, let factor):
                let passed = milestones.filter { $0 - warmupEpochs <= 0 }.count  // bisect_right(milestones - W, 0); 0 once validated
                learningRate = baseLearningRate * TorchOps.power(factor, Double(passed))
            case .cosine:
                let tMax = Double(epochs - warmupEpochs)
                learningRate = etaMin + (baseLearningRate - etaMin) * (1 + TorchOps.cosine(Double.pi * 0 / tMax)) / 2
            }
            return
        }
        switch schedule.main {
        case .constant:
            // No scheduler (or LambdaLR(lambda e: 1.0) after a warmup: base_lr · 1.0).
            learningRate = schedule.warmup == nil ? learningRate : baseLearningRate * 1.0
        case .multiStep(let milestones, let factor):
            // MultiStepLR.get_lr: lr · gamma ** count when last_epoch is a milestone.
            if milestones.contains(local + warmupEpochs) {
                learningRate = learningRate * TorchOps.power(factor, 1)
            }
        case .cosine:
            // CosineAnnealingLR.get_lr, the recursive form.
            let tMax = epochs - warmupEpochs
            let t = Double(tMax)
            if (local - 1 - tMax) % (2 * tMax) == 0 {
                learningRate = learningRate + (baseLearningRate - etaMin) * (1 - TorchOps.cosine(Double.pi / t)) / 2
            } else {
                learningRate = (1 + TorchOps.cosine(Double.pi * Double(local) / t))
                    / (1 + TorchOps.cosine(Double.pi * Double(local - 1) / t))
                    * (learningRate - etaMin) + etaMin
            }
        }
    }
}
