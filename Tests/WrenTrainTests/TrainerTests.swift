import AllocationCounter
import Foundation
import Testing
@testable import WrenConvert
import WrenNetwork
import WrenTestSupport
@testable import WrenTrain

/// The training loop: it takes the parity-checked steps in file order, is deterministic for a seed
/// and thread count, and refuses data that cannot train.
@Suite struct TrainerTests {
    static func digitsLike(count: Int, classes: Int, seed: UInt64) throws -> LabeledImages {
        var random = SplitMix64(seed: seed)
        let labels = (0..<count).map { _ in Int(random.next() % UInt64(classes)) }
        // Each class brightens its own channel, so a few steps can learn something.
        var images = [Float](repeating: 0, count: count * 3 * 16 * 16)
        for (image, label) in labels.enumerated() {
            for index in 0..<(3 * 256) {
                let noise = Float(random.next() % 1000) / 1000 - 0.5
                images[image * 768 + index] = noise + (index / 256 == label % 3 ? 1 : 0)
            }
        }
        return try LabeledImages(images: images, labels: labels, height: 16, width: 16, classes: classes, name: "synthetic")
    }

    static func finalState(threads: Int, dropout: Double, shuffle: Bool, seed: UInt64) throws -> [StateDictValue] {
        let architecture = WRNArchitecture(depth: 10, widenFactor: 1, numClasses: 3, convBias: true)
        let network = try TrainingNetwork(architecture: architecture, inputHeight: 16, inputWidth: 16, maxBatch: 8,
                                          dropout: dropout, seed: seed, team: try ThreadTeam(count: threads))
        network.initialize(seed: seed)
        let options = TrainingOptions(epochs: 2, batchSize: 8, shuffle: shuffle, seed: seed,
                                      optimizer: .sgd(learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4))
        let trainer = try Trainer(network: network, training: try digitsLike(count: 21, classes: 3, seed: 5), test: nil, options: options)
        try trainer.run()
        #expect(trainer.stepsTaken == 6)  // 21 images in batches of 8: 8, 8, 5 per epoch
        return network.stateDict()
    }

    @Test(arguments: [1, 2])
    func rerunsAreBitIdentical(threads: Int) throws {
        let first = try Self.finalState(threads: threads, dropout: 0.3, shuffle: true, seed: 9)
        let second = try Self.finalState(threads: threads, dropout: 0.3, shuffle: true, seed: 9)
        #expect(first.map(\.values) == second.map(\.values))
        let otherSeed = try Self.finalState(threads: threads, dropout: 0.3, shuffle: true, seed: 10)
        #expect(first.map(\.values) != otherSeed.map(\.values))
    }

    /// Every activation, gradient and scratch buffer is planned when the network is built: after
    /// the first step, steps (forward, backward, optimizer) allocate nothing, at the largest batch
    /// and at a smaller last one, on one thread and on a team (whose members run the same code).
    @Test(arguments: [1, 2])
    func stepsAllocateNothing(threads: Int) throws {
        let probeBefore = wren_thread_allocation_count()
        UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64).deallocate()
        #expect(wren_thread_allocation_count() > probeBefore, "the allocation counter is not interposing malloc")

        let architecture = WRNArchitecture(depth: 10, widenFactor: 2, numClasses: 3, convBias: true)
        let network = try TrainingNetwork(architecture: architecture, inputHeight: 16, inputWidth: 16, maxBatch: 8,
                                          dropout: 0.3, seed: 1, team: try ThreadTeam(count: threads))
        network.initialize(seed: 1)
        let parameters = network.parameters
        var optimizer = try Optimizer(.adamW(weightDecay: 0.01),
                                      parameters: parameters.map { ParameterSpec(name: $0.entry.key, shape: $0.entry.shape) })
        let values = parameters.map(\.value.values), gradients = parameters.map { UnsafeBufferPointer($0.gradient.values) }
        let data = try Self.digitsLike(count: 8, classes: 3, seed: 2)
        func step(batch: Int) throws {
            _ = try data.images.withUnsafeBufferPointer { x in
                try data.labels.withUnsafeBufferPointer { y in
                    try network.trainingStep(images: UnsafeBufferPointer(rebasing: x[0..<(batch * 768)]),
                                             labels: UnsafeBufferPointer(rebasing: y[0..<batch]), batch: batch)
                }
            }
            optimizer.step(parameters: values, gradients: gradients, team: network.team)
        }
        try step(batch: 8)
        let before = wren_thread_allocation_count()
        for batch in [8, 5, 8] { try step(batch: batch) }
        let allocations = wren_thread_allocation_count() - before
        #expect(allocations == 0, "\(threads) threads: 3 steps allocated \(allocations) times")
    }

    /// The loop in file order takes exactly the steps the parity test drives by hand.
    @Test func inFileOrderTheLoopTakesTheParitySteps() throws {
        let initial = try TrainingParityTests.tensors("wrn16_1/init.safetensors")
        let batches = try TrainingParityTests.tensors("wrn16_1/batches.safetensors")
        let architecture = try WideResNet(stateDict: initial).architecture
        let images = batches["x"]!.data, labels = batches["y"]!.data.map { Int($0) }
        let configuration = OptimizerConfiguration.sgd(learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4)

        let byHand = try TrainingNetwork(architecture: architecture, maxBatch: 8)
        try byHand.load(initial)
        var optimizer = try Optimizer(configuration, parameters: byHand.parameters.map { ParameterSpec(name: $0.entry.key, shape: $0.entry.shape) })
        for step in 0..<3 {
            _ = try images[(step * 8 * 3072)..<((step + 1) * 8 * 3072)].withUnsafeBufferPointer { x in
                try labels[(step * 8)..<((step + 1) * 8)].withUnsafeBufferPointer { y in try byHand.trainingStep(images: x, labels: y, batch: 8) }
            }
            optimizer.step(parameters: byHand.parameters.map(\.value.values), gradients: byHand.parameters.map { UnsafeBufferPointer($0.gradient.values) })
        }

        let looped = try TrainingNetwork(architecture: architecture, maxBatch: 8)
        try looped.load(initial)
        let data = try LabeledImages(images: images, labels: labels, height: 32, width: 32, classes: 10, name: "batches")
        let trainer = try Trainer(network: looped, training: data, test: nil,
                                  options: TrainingOptions(epochs: 1, batchSize: 8, shuffle: false, optimizer: configuration))
        let report = try trainer.runEpoch(1)
        #expect(looped.stateDict().map(\.values) == byHand.stateDict().map(\.values))
        #expect(report.learningRate == 0.1 && report.trainAccuracy >= 0 && report.trainLoss.isFinite)
    }

    @Test func refusesDataThatCannotTrain() throws {
        #expect(throws: TrainingError.invalidData("x.npy: label 7 of image 1 is outside 0..<3 (the model has 3 classes)")) {
            try LabeledImages(images: [Float](repeating: 0, count: 2 * 12), labels: [0, 7], height: 2, width: 2, classes: 3, name: "x.npy")
        }
        #expect(throws: TrainingError.invalidData("x.npy: image 1 holds nan at value 2")) {
            var values = [Float](repeating: 0, count: 2 * 12)
            values[14] = .nan
            return try LabeledImages(images: values, labels: [0, 1], height: 2, width: 2, classes: 3, name: "x.npy")
        }
        let network = try TrainingNetwork(architecture: WRNArchitecture(depth: 10, widenFactor: 1, numClasses: 3, convBias: false),
                                          inputHeight: 16, inputWidth: 16, maxBatch: 8)
        #expect(throws: TrainingError.self) {
            try Trainer(network: network, training: try Self.digitsLike(count: 8, classes: 3, seed: 1), test: nil,
                        options: TrainingOptions(epochs: 1, batchSize: 8, optimizer: .sgd(learningRate: .nan)))
        }
    }
}
