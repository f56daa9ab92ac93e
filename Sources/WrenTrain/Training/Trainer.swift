#if canImport(Glibc)
import Glibc
#endif

/// Images and labels held in memory: NCHW float32, already normalized, and class indices.
public struct LabeledImages: Sendable {
    public let images: [Float]
    public let labels: [Int]
    public let height: Int
    public let width: Int

    public var count: Int { labels.count }
    var valuesPerImage: Int { 3 * height * width }

    /// A 64-bit FNV-1a hash of the size, every image value's bits and every label, in order: what
    /// a resumed run checks to be training on the same data.
    public var fingerprint: UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        @inline(__always) func mix(_ word: UInt64) {
            hash = (hash ^ word) &* 0x0000_0100_0000_01B3
        }
        mix(UInt64(height)); mix(UInt64(width)); mix(UInt64(labels.count))
        for value in images { mix(UInt64(value.bitPattern)) }
        for label in labels { mix(UInt64(bitPattern: Int64(label))) }
        return hash
    }

    /// Checks that `images` holds `labels.count` images of 3 × `height` × `width`, all finite, and
    /// that every label is in `0..<classes`.
    public init(images: [Float], labels: [Int], height: Int, width: Int, classes: Int, name: String) throws(TrainingError) {
        guard !labels.isEmpty else { throw .invalidData("\(name): no images") }
        guard height >= 1, width >= 1, images.count == labels.count * 3 * height * width else {
            throw .invalidData("\(name): \(images.count) values are not \(labels.count) images of 3x\(height)x\(width)")
        }
        if let bad = images.firstIndex(where: { !$0.isFinite }) {
            let perImage = 3 * height * width
            throw .invalidData("\(name): image \(bad / perImage) holds \(images[bad]) at value \(bad % perImage)")
        }
        if let bad = labels.firstIndex(where: { !(0..<classes).contains($0) }) {
            throw .invalidData("\(name): label \(labels[bad]) of image \(bad) is outside 0..<\(classes) (the model has \(classes) classes)")
        }
        self.images = images
        self.labels = labels
        self.height = height
        self.width = width
    }
}

/// How to train: the batches, the optimizer and the learning-rate schedule.
public struct TrainingOptions: Sendable {
    public var epochs: Int
    public var batchSize: Int
    /// Reshuffle the training images every epoch (seeded); otherwise batches are taken in order,
    /// the last partial batch included, so a run can be repeated step by step elsewhere.
    public var shuffle: Bool
    public var seed: UInt64
    public var optimizer: OptimizerConfiguration
    public var schedule: LearningRateSchedule
    /// Random flips and crops of each training image (seeded by `seed`); test images are never changed.
    public var augmentation: Augmentation

    public init(epochs: Int, batchSize: Int, shuffle: Bool = true, seed: UInt64 = 0,
                optimizer: OptimizerConfiguration, schedule: LearningRateSchedule = LearningRateSchedule(.constant),
                augmentation: Augmentation = .none) {
        self.augmentation = augmentation
        self.epochs = epochs
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        self.optimizer = optimizer
        self.schedule = schedule
    }
}

/// What one epoch did.
public struct EpochReport: Sendable {
    public let epoch: Int
    public let learningRate: Double
    public let trainLoss: Double
    public let trainAccuracy: Double
    public let testLoss: Double?
    public let testAccuracy: Double?
    public let seconds: Double
    /// Training images per second over the epoch's steps after its first (which warms caches and
    /// thread wake-ups): the figure `tools/bench_train.py` compares.
    public let steadyImagesPerSecond: Double?

    public init(epoch: Int, learningRate: Double, trainLoss: Double, trainAccuracy: Double, testLoss: Double?, testAccuracy: Double?,
                seconds: Double, steadyImagesPerSecond: Double?) {
        self.epoch = epoch
        self.learningRate = learningRate
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.testLoss = testLoss
        self.testAccuracy = testAccuracy
        self.seconds = seconds
        self.steadyImagesPerSecond = steadyImagesPerSecond
    }
}

/// Where a run stands, beyond the network's weights and batch-norm statistics: enough to continue
/// it bit-identically (`Trainer.snapshot`, `Trainer.restore`). Taken between steps: after the
/// last step of an epoch it is at that epoch's end (`stepInEpoch` 0), otherwise inside the
/// next epoch, whose order is already shuffled.
public struct TrainerSnapshot: Equatable, Sendable {
    /// Epochs finished (test evaluation and schedule step included).
    public var epochsCompleted: Int
    /// Steps of epoch `epochsCompleted + 1` already taken (0 at an epoch boundary).
    public var stepInEpoch: Int
    public var stepsTaken: Int
    /// The training images' order: the current epoch's shuffle (each epoch reshuffles the last).
    public var order: [Int]
    public var shuffleDraws: UInt64
    public var augmentationDraws: UInt64
    /// Per block, its dropout generator's draws.
    public var dropoutDraws: [UInt64]
    /// The current epoch's loss sum (loss × images) and correct count over its steps so far.
    public var epochLossSum: Double
    public var epochCorrect: Int
    public var optimizer: Optimizer.Snapshot

    public init(epochsCompleted: Int, stepInEpoch: Int, stepsTaken: Int, order: [Int], shuffleDraws: UInt64, augmentationDraws: UInt64,
                dropoutDraws: [UInt64], epochLossSum: Double, epochCorrect: Int, optimizer: Optimizer.Snapshot) {
        self.epochsCompleted = epochsCompleted
        self.stepInEpoch = stepInEpoch
        self.stepsTaken = stepsTaken
        self.order = order
        self.shuffleDraws = shuffleDraws
        self.augmentationDraws = augmentationDraws
        self.dropoutDraws = dropoutDraws
        self.epochLossSum = epochLossSum
        self.epochCorrect = epochCorrect
        self.optimizer = optimizer
    }
}

/// How `Trainer.run` ended.
public enum TrainingOutcome: Equatable, Sendable {
    /// Every epoch ran.
    case finished
    /// `shouldStop` asked to stop; the trainer stopped between steps and `snapshot` continues it.
    case stopped
}

/// Progress inside an epoch, after each step.
public struct StepProgress: Sendable {
    public let epoch: Int
    public let step: Int
    public let steps: Int
    public let loss: Double
    public let imagesPerSecond: Double
    /// Training accuracy over the epoch's images so far.
    public let runningAccuracy: Double
}

/// The training loop: batches from memory through a `TrainingNetwork`, an optimizer step after
/// each, the schedule once per epoch (as PyTorch's schedulers are stepped), and evaluation on the
/// test images after every epoch.
public final class Trainer {
    public let network: TrainingNetwork
    public let training: LabeledImages
    public let test: LabeledImages?
    public let options: TrainingOptions
    public private(set) var optimizer: Optimizer
    private var scheduler: LearningRateScheduler
    private var order: [Int]
    private var shuffler: ParameterGenerator
    private var augmenter: ParameterGenerator
    private let batchImages: UnsafeMutableBufferPointer<Float>
    private let batchLabels: UnsafeMutableBufferPointer<Int>
    private let parameterValues: [UnsafeMutableBufferPointer<Float>]
    private let parameterGradients: [UnsafeBufferPointer<Float>]
    public private(set) var stepsTaken = 0
    /// Epochs finished; `run` continues with the next.
    public private(set) var epochsCompleted = 0
    /// Inside an interrupted epoch: its steps taken and their loss sum and correct count.
    private var stepInEpoch = 0
    private var epochLossSum = 0.0
    private var epochCorrect = 0

    public init(network: TrainingNetwork, training: LabeledImages, test: LabeledImages?, options: TrainingOptions) throws(TrainingError) {
        guard options.epochs >= 1 else { throw .invalidConfiguration("\(options.epochs) epochs (must be at least 1)") }
        guard options.batchSize >= 1, options.batchSize <= network.maxBatch else {
            throw .invalidConfiguration("batch size \(options.batchSize) for a network sized for 1...\(network.maxBatch)")
        }
        for (name, data) in [("training data", training)] + (test.map { [("test data", $0)] } ?? []) {
            guard data.height == network.inputHeight, data.width == network.inputWidth else {
                throw .invalidData("\(name) has \(data.height)x\(data.width) images, the network takes \(network.inputHeight)x\(network.inputWidth)")
            }
        }
        // Train-mode batch norm needs two values per channel: a final batch of one image at 1x1
        // resolution would divide by zero in the unbiased variance, as PyTorch refuses it too.
        let last = training.count % options.batchSize
        if last == 1 && network.finalNorm.height * network.finalNorm.width < 2 {
            throw .invalidData("the last batch would hold 1 image with a 1x1 final feature map: batch norm needs 2 values per channel; choose another --batch")
        }
        try options.optimizer.validate()
        try options.schedule.validate(epochs: options.epochs)
        self.network = network
        self.training = training
        self.test = test
        self.options = options
        let parameters = network.parameters
        optimizer = try Optimizer(options.optimizer, parameters: parameters.map { ParameterSpec(name: $0.entry.key, shape: $0.entry.shape) })
        scheduler = try LearningRateScheduler(options.schedule, baseLearningRate: options.optimizer.learningRate, epochs: options.epochs)
        order = Array(0..<training.count)
        shuffler = ParameterGenerator(seed: options.seed ^ Self.shuffleSeed)
        augmenter = ParameterGenerator(seed: options.seed ^ Self.augmentationSeed)
        guard options.augmentation.padding.count == 3 else {
            throw .invalidConfiguration("augmentation padding needs 3 values (one per channel), got \(options.augmentation.padding.count)")
        }
        batchImages = .allocate(capacity: network.maxBatch * training.valuesPerImage)
        batchImages.initialize(repeating: 0)
        batchLabels = .allocate(capacity: network.maxBatch)
        batchLabels.initialize(repeating: 0)
        parameterValues = parameters.map(\.value.values)
        parameterGradients = parameters.map { UnsafeBufferPointer($0.gradient.values) }
    }

    deinit {
        batchImages.deallocate()
        batchLabels.deallocate()
    }

    /// Trains every epoch left (all of them, or those after a `restore`), reporting each step and
    /// each epoch. Stops with `.diverged` when a loss is no longer finite, or when the weights are
    /// not at an epoch's end (so they are never reported as an epoch's result). `shouldStop` is
    /// asked after every step (the optimizer's update done: a safe point); when it says yes, the
    /// run returns `.stopped` there, and `snapshot` continues it. A stop asked after an epoch's
    /// last step still finishes that epoch (its test and report) first.
    @discardableResult
    public func run(progress: (StepProgress) -> Void = { _ in }, epochEnded: (EpochReport) -> Void = { _ in },
                    shouldStop: () -> Bool = { false }) throws(TrainingError) -> TrainingOutcome {
        while epochsCompleted < options.epochs {
            guard let report = try runSteps(epochsCompleted + 1, progress: progress, shouldStop: shouldStop) else { return .stopped }
            epochEnded(report)
            if epochsCompleted < options.epochs, shouldStop() { return .stopped }
        }
        return .finished
    }

    /// Runs epoch `epoch` (which must be the next one) to its end.
    public func runEpoch(_ epoch: Int, progress: (StepProgress) -> Void = { _ in }) throws(TrainingError) -> EpochReport {
        precondition(epoch == epochsCompleted + 1, "runEpoch(\(epoch)) after \(epochsCompleted) epochs")
        return try runSteps(epoch, progress: progress, shouldStop: { false })!
    }

    /// Where the run stands (see `TrainerSnapshot`); with the network's state dict, all a
    /// resumed run needs.
    public var snapshot: TrainerSnapshot {
        TrainerSnapshot(epochsCompleted: epochsCompleted, stepInEpoch: stepInEpoch, stepsTaken: stepsTaken, order: order,
                        shuffleDraws: shuffler.drawCount, augmentationDraws: augmenter.drawCount, dropoutDraws: network.dropoutDraws,
                        epochLossSum: epochLossSum, epochCorrect: epochCorrect, optimizer: optimizer.snapshot)
    }

    /// Continues from `snapshot` of a trainer of the same options (any `epochs` at least its
    /// finished ones) and data, over a network that holds that run's weights and statistics. The
    /// schedule is replayed to the snapshot's epoch under these options' epoch count.
    public func restore(_ snapshot: TrainerSnapshot) throws(TrainingError) {
        let steps = (training.count + options.batchSize - 1) / options.batchSize
        guard snapshot.epochsCompleted >= 0, snapshot.stepInEpoch >= 0, snapshot.stepInEpoch < steps else {
            throw .invalidData("resume point epoch \(snapshot.epochsCompleted) step \(snapshot.stepInEpoch): an epoch has \(steps) steps")
        }
        guard snapshot.epochsCompleted + (snapshot.stepInEpoch > 0 ? 1 : 0) <= options.epochs,
              snapshot.epochsCompleted < options.epochs else {
            throw .invalidConfiguration("the run already trained \(snapshot.epochsCompleted) epochs"
                                        + (snapshot.stepInEpoch > 0 ? " and \(snapshot.stepInEpoch) steps" : "")
                                        + "; ask for more than \(snapshot.epochsCompleted) (--epochs)")
        }
        guard snapshot.order.count == training.count, Set(snapshot.order).count == training.count,
              snapshot.order.allSatisfy({ (0..<training.count).contains($0) }) else {
            throw .invalidData("the saved image order is not a permutation of the \(training.count) training images")
        }
        guard snapshot.dropoutDraws.count == network.dropoutDraws.count else {
            throw .invalidData("dropout state for \(snapshot.dropoutDraws.count) blocks, the network has \(network.dropoutDraws.count)")
        }
        try optimizer.restore(snapshot.optimizer)
        var scheduler = try LearningRateScheduler(options.schedule, baseLearningRate: options.optimizer.learningRate, epochs: options.epochs)
        for _ in 0..<snapshot.epochsCompleted { scheduler.step() }
        self.scheduler = scheduler
        epochsCompleted = snapshot.epochsCompleted
        stepInEpoch = snapshot.stepInEpoch
        stepsTaken = snapshot.stepsTaken
        order = snapshot.order
        shuffler = ParameterGenerator(seed: options.seed ^ Self.shuffleSeed, draws: snapshot.shuffleDraws)
        augmenter = ParameterGenerator(seed: options.seed ^ Self.augmentationSeed, draws: snapshot.augmentationDraws)
        network.dropoutDraws = snapshot.dropoutDraws
        epochLossSum = snapshot.epochLossSum
        epochCorrect = snapshot.epochCorrect
    }

    private static let shuffleSeed: UInt64 = 0x5348_5546_464C_4500
    private static let augmentationSeed: UInt64 = 0x4155_474D_454E_5400

    /// The steps of `epoch` from `stepInEpoch` on; nil when `shouldStop` stopped it before its end.
    private func runSteps(_ epoch: Int, progress: (StepProgress) -> Void, shouldStop: () -> Bool) throws(TrainingError) -> EpochReport? {
        let learningRate = scheduler.learningRate
        optimizer.learningRate = learningRate
        if options.shuffle, stepInEpoch == 0 {
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                order.swapAt(i, Int(shuffler.next() % UInt64(i + 1)))
            }
        }
        let batch = options.batchSize, steps = (training.count + batch - 1) / batch
        let firstStep = stepInEpoch
        let start = monotonicSeconds()
        var afterFirstStep = start
        for step in firstStep..<steps {
            let range = (step * batch)..<min(training.count, (step + 1) * batch)
            let count = gather(range)
            let result = try network.trainingStep(images: UnsafeBufferPointer(rebasing: batchImages[0..<(count * training.valuesPerImage)]),
                                                  labels: UnsafeBufferPointer(rebasing: batchLabels[0..<count]), batch: count)
            guard result.loss.isFinite else {
                throw .diverged(step: stepsTaken + 1, what: "the loss is \(result.loss) in epoch \(epoch), step \(step + 1) of \(steps) (try a lower --lr)")
            }
            stepsTaken += 1
            optimizer.step(parameters: parameterValues, gradients: parameterGradients, team: network.team)
            epochLossSum += result.loss * Double(count)
            epochCorrect += result.correct
            stepInEpoch = step + 1
            let now = monotonicSeconds()
            if step == firstStep { afterFirstStep = now }
            let seen = range.upperBound - firstStep * batch
            progress(StepProgress(epoch: epoch, step: step + 1, steps: steps, loss: result.loss,
                                  imagesPerSecond: Double(seen) / max(now - start, 1e-9),
                                  runningAccuracy: Double(epochCorrect) / Double(range.upperBound)))
            if step + 1 < steps, shouldStop() { return nil }
        }
        let end = monotonicSeconds()
        if let bad = firstNonFinite() {
            throw .diverged(step: stepsTaken, what: "after epoch \(epoch), step \(steps) of \(steps), '\(bad.key)' holds \(bad.value) (try a lower --lr)")
        }
        scheduler.step()
        let steadyImages = training.count - min(batch, training.count) - firstStep * batch
        var testLoss: Double?, testAccuracy: Double?
        if let test {
            let result = try evaluate(test)
            (testLoss, testAccuracy) = (result.loss, result.accuracy)
        }
        let report = EpochReport(epoch: epoch, learningRate: learningRate, trainLoss: epochLossSum / Double(training.count),
                                 trainAccuracy: Double(epochCorrect) / Double(training.count), testLoss: testLoss, testAccuracy: testAccuracy,
                                 seconds: end - start,
                                 steadyImagesPerSecond: steps - firstStep > 1 ? Double(steadyImages) / max(end - afterFirstStep, 1e-9) : nil)
        epochsCompleted = epoch
        stepInEpoch = 0
        epochLossSum = 0
        epochCorrect = 0
        return report
    }

    /// The first parameter or running statistic that is NaN or infinite, and that value.
    private func firstNonFinite() -> (key: String, value: Float)? {
        for tensor in network.tensors {
            let buffer: TrainingBuffer
            switch tensor.storage {
            case .parameter(let value, _): buffer = value
            case .statistic(let statistic): buffer = statistic
            case .batchesTracked: continue
            }
            if let bad = buffer.values.first(where: { !$0.isFinite }) { return (tensor.entry.key, bad) }
        }
        return nil
    }

    /// Mean loss and accuracy over `data` in evaluation mode, in batches of the training batch size.
    public func evaluate(_ data: LabeledImages) throws(TrainingError) -> (loss: Double, accuracy: Double) {
        var lossSum = 0.0, correct = 0
        let batch = network.maxBatch
        for start in stride(from: 0, to: data.count, by: batch) {
            let count = min(batch, data.count - start)
            let result = try data.images.withUnsafeBufferPointer { (images) throws(TrainingError) in
                try data.labels.withUnsafeBufferPointer { (labels) throws(TrainingError) in
                    try network.evaluate(images: UnsafeBufferPointer(rebasing: images[(start * data.valuesPerImage)..<((start + count) * data.valuesPerImage)]),
                                         labels: UnsafeBufferPointer(rebasing: labels[start..<(start + count)]), batch: count)
                }
            }
            lossSum += result.loss * Double(count)
            correct += result.correct
        }
        return (lossSum / Double(data.count), Double(correct) / Double(data.count))
    }

    /// Copies the images of `order[range]` into the batch buffers; returns how many.
    /// With augmentation, each image is written already changed (no second copy).
    private func gather(_ range: Range<Int>) -> Int {
        let perImage = training.valuesPerImage
        let augmentation = options.augmentation
        training.images.withUnsafeBufferPointer { images in
            for (slot, position) in range.enumerated() {
                let image = order[position]
                let source = UnsafeBufferPointer(rebasing: images[(image * perImage)..<((image + 1) * perImage)])
                let destination = UnsafeMutableBufferPointer(rebasing: batchImages[(slot * perImage)..<((slot + 1) * perImage)])
                if augmentation.isNone {
                    _ = destination.initialize(from: source)
                } else {
                    augmentation.apply(source, to: destination, height: training.height, width: training.width, generator: &augmenter)
                }
                batchLabels[slot] = training.labels[image]
            }
        }
        return range.count
    }
}

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}
