import Testing
import WrenNetwork
@testable import WrenTrain

/// Stopping a run between steps and continuing it in a new trainer over a new network (as `wren
/// train --resume` does from a checkpoint) gives the uninterrupted run's weights to the bit, with
/// shuffling, augmentation, dropout and Adam's moments all in play; a run that diverges stops.
@Suite struct TrainerResumeTests {
    static let architecture = WRNArchitecture(depth: 10, widenFactor: 1, numClasses: 3, convBias: false)

    static func options(epochs: Int, learningRate: Double = 0.01) -> TrainingOptions {
        TrainingOptions(epochs: epochs, batchSize: 8, shuffle: true, seed: 4,
                        optimizer: .adam(learningRate: learningRate, weightDecay: 1e-4),
                        schedule: LearningRateSchedule(.multiStep(milestones: [1], factor: 0.5)),
                        augmentation: Augmentation(horizontalFlip: true, cropPadding: 4))
    }

    static func trainer(epochs: Int, learningRate: Double = 0.01, threads: Int = 2) throws -> Trainer {
        let network = try TrainingNetwork(architecture: architecture, inputHeight: 16, inputWidth: 16, maxBatch: 8,
                                          dropout: 0.3, seed: 4, team: try ThreadTeam(count: threads))
        network.initialize(seed: 4)
        return try Trainer(network: network, training: try TrainerTests.digitsLike(count: 21, classes: 3, seed: 5),
                           test: try TrainerTests.digitsLike(count: 6, classes: 3, seed: 6),
                           options: options(epochs: epochs, learningRate: learningRate))
    }

    /// Continues `stopped` in a fresh trainer, from its state dict and snapshot only.
    static func resumed(from stopped: Trainer, epochs: Int) throws -> Trainer {
        let next = try trainer(epochs: epochs)
        try next.network.load(stopped.network.floatStateDict())
        next.network.batchesTracked = stopped.network.batchesTracked
        try next.restore(stopped.snapshot)
        return next
    }

    @Test(arguments: [1, 2, 3, 5, 6, 7])
    func stoppingAfterAnyStepAndResumingIsBitIdentical(stopAfter: Int) throws {
        let whole = try Self.trainer(epochs: 3)
        var wholeReports: [EpochReport] = []
        #expect(try whole.run(epochEnded: { wholeReports.append($0) }) == .finished)

        let first = try Self.trainer(epochs: 3)
        var steps = 0
        let outcome = try first.run(progress: { _ in steps += 1 }, shouldStop: { steps >= stopAfter })
        #expect(outcome == .stopped)
        // 21 images in batches of 8: 3 steps an epoch. A stop after an epoch's last step finishes that epoch.
        #expect(first.stepsTaken == stopAfter)
        #expect(first.snapshot.epochsCompleted == stopAfter / 3 && first.snapshot.stepInEpoch == stopAfter % 3)
        #expect(first.network.stateDict().map(\.values) != whole.network.stateDict().map(\.values))

        let second = try Self.resumed(from: first, epochs: 3)
        var reports: [EpochReport] = []
        #expect(try second.run(epochEnded: { reports.append($0) }) == .finished)
        #expect(second.network.stateDict().map(\.values) == whole.network.stateDict().map(\.values))
        #expect(second.snapshot == whole.snapshot)
        // The interrupted epoch's report counts the steps taken before the stop too.
        let last = try #require(reports.last), wholeLast = try #require(wholeReports.last)
        #expect(last.trainLoss == wholeLast.trainLoss && last.trainAccuracy == wholeLast.trainAccuracy)
        #expect(last.testLoss == wholeLast.testLoss && last.learningRate == wholeLast.learningRate)
    }

    /// A run of 2 epochs continued to 3 (more epochs than it was started with) equals a run of 3.
    @Test func extendingAFinishedRunIsBitIdentical() throws {
        let whole = try Self.trainer(epochs: 3)
        try whole.run()
        let short = try Self.trainer(epochs: 2)
        #expect(try short.run() == .finished)
        let extended = try Self.resumed(from: short, epochs: 3)
        try extended.run()
        #expect(extended.network.stateDict().map(\.values) == whole.network.stateDict().map(\.values))
        #expect(extended.optimizer.snapshot == whole.optimizer.snapshot)
    }

    @Test func refusesToResumeWhatCannotContinue() throws {
        let done = try Self.trainer(epochs: 2)
        try done.run()
        #expect(throws: TrainingError.invalidConfiguration("the run already trained 2 epochs; ask for more than 2 (--epochs)")) {
            try Self.trainer(epochs: 2).restore(done.snapshot)
        }
        var scrambled = done.snapshot
        scrambled.order[0] = scrambled.order[1]
        #expect(throws: TrainingError.invalidData("the saved image order is not a permutation of the 21 training images")) {
            try Self.trainer(epochs: 3).restore(scrambled)
        }
        var shortState = done.snapshot
        shortState.optimizer.state.removeLast()
        #expect(throws: TrainingError.self) { try Self.trainer(epochs: 3).restore(shortState) }
    }

    /// A huge learning rate: the run stops with the epoch and step, before any epoch's result
    /// holds a non-finite weight.
    @Test func divergenceNamesTheEpochAndStep() throws {
        let trainer = try Self.trainer(epochs: 3, learningRate: 1e9)
        var finished: [Int] = []
        do {
            try trainer.run(epochEnded: { _ in finished.append(trainer.network.stateDict().count) })
            Issue.record("a learning rate of 1e9 trained 3 epochs without diverging")
        } catch {
            guard case .diverged(_, let what) = error else { Issue.record("\(error)"); return }
            #expect(what.contains("epoch ") && what.contains("step "), "\(what)")
        }
    }
}
