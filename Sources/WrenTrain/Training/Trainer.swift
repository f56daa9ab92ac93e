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
        shuffler = ParameterGenerator(seed: options.seed ^ 0x5348_5546_464C_4500)
        augmenter = ParameterGenerator(seed: options.seed ^ 0x4155_474D_454E_5400)
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

    /// Trains every epoch, reporting each step and each epoch. Stops with `.diverged` when a loss
    /// is no longer finite.
    public func run(progress: (StepProgress) -> Void = { _ in }, epochEnded: (EpochReport) -> Void = { _ in }) throws(TrainingError) {
        for epoch in 1...options.epochs {
            epochEnded(try runEpoch(epoch, progress: progress))
        }
    }

    public func runEpoch(_ epoch: Int, progress: (StepProgress) -> Void = { _ in }) throws(TrainingError) -> EpochReport {
        let learningRate = scheduler.learningRate
        optimizer.learningRate = learningRate
        if options.shuffle {
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                order.swapAt(i, Int(shuffler.next() % UInt64(i + 1)))
            }
        }
        let batch = options.batchSize, steps = (training.count + batch - 1) / batch
        let start = monotonicSeconds()
        var afterFirstStep = start
        var lossSum = 0.0, correct = 0
        for step in 0..<steps {
            let range = (step * batch)..<min(training.count, (step + 1) * batch)
            let count = gather(range)
            let result = try network.trainingStep(images: UnsafeBufferPointer(rebasing: batchImages[0..<(count * training.valuesPerImage)]),
                                                  labels: UnsafeBufferPointer(rebasing: batchLabels[0..<count]), batch: count)
            stepsTaken += 1
            guard result.loss.isFinite else {
                throw .diverged(step: stepsTaken, what: "the loss is \(result.loss) in epoch \(epoch), step \(step + 1) (try a lower --lr)")
            }
            optimizer.step(parameters: parameterValues, gradients: parameterGradients, team: network.team)
            lossSum += result.loss * Double(count)
            correct += result.correct
            let now = monotonicSeconds()
            if step == 0 { afterFirstStep = now }
            progress(StepProgress(epoch: epoch, step: step + 1, steps: steps, loss: result.loss,
                                  imagesPerSecond: Double(range.upperBound) / max(now - start, 1e-9),
                                  runningAccuracy: Double(correct) / Double(range.upperBound)))
        }
        let end = monotonicSeconds()
        scheduler.step()
        let steadyImages = training.count - min(batch, training.count)
        var testLoss: Double?, testAccuracy: Double?
        if let test {
            let result = try evaluate(test)
            (testLoss, testAccuracy) = (result.loss, result.accuracy)
        }
        return EpochReport(epoch: epoch, learningRate: learningRate, trainLoss: lossSum / Double(training.count),
                           trainAccuracy: Double(correct) / Double(training.count), testLoss: testLoss, testAccuracy: testAccuracy,
                           seconds: end - start,
                           steadyImagesPerSecond: steps > 1 ? Double(steadyImages) / max(end - afterFirstStep, 1e-9) : nil)
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
