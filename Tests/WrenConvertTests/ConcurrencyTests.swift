import Testing
import WrenConvert
import WrenCore

#if canImport(Glibc)
import Glibc
#endif

/// One immutable `WrenModel` shared by many threads, each running through its own `WrenContext`,
/// must give exactly the logits of serial runs. Run it under ThreadSanitizer with
/// `swift test --sanitize=thread --filter Concurrency --scratch-path .build-tsan`.

/// What one worker thread needs and reports. Each worker writes only its own `Worker`; the main
/// thread reads them after `pthread_join`, which orders the accesses.
private final class Worker: @unchecked Sendable {
    let model: WrenModel
    let inputs: [Float]
    let imageCount: Int
    let expected: [[Float]]
    let kernels: KernelTable
    let rounds: Int
    let seed: Int
    var runs = 0
    var mismatches: [String] = []

    init(model: WrenModel, inputs: [Float], imageCount: Int, expected: [[Float]], kernels: KernelTable, rounds: Int, seed: Int) {
        self.model = model
        self.inputs = inputs
        self.imageCount = imageCount
        self.expected = expected
        self.kernels = kernels
        self.rounds = rounds
        self.seed = seed
    }

    /// Runs batches of 1...imageCount consecutive images, starting at a different image per
    /// worker and round, and compares every image's logits with the serial ones.
    func work() {
        let perImage = inputs.count / imageCount
        let classes = model.numClasses
        let context: WrenContext
        do {
            context = try WrenContext(model: model, maxBatch: imageCount, kernels: kernels)
        } catch {
            mismatches.append("worker \(seed): cannot create a context: \(error)")
            return
        }
        for round in 0..<rounds {
            let first = (seed + round) % imageCount
            let batch = 1 + (seed * 7 + round) % (imageCount - first)
            let slice = Array(inputs[(first * perImage)..<((first + batch) * perImage)])
            do {
                let logits = try context.run(slice, batch: batch)
                runs += 1
                for image in 0..<batch where Array(logits[(image * classes)..<((image + 1) * classes)]) != expected[first + image] {
                    mismatches.append("worker \(seed) (\(kernels.name)) round \(round): image \(first + image) in a batch of \(batch) differs")
                }
            } catch {
                mismatches.append("worker \(seed) round \(round): \(error)")
            }
        }
    }
}

@Suite struct ConcurrencyTests {
    static let threadCount = 8
    /// Runs per worker: many interleavings of every layer of every worker with the others (about
    /// 1.5 s in release; under ThreadSanitizer it takes tens of seconds, which is fine for that run).
    static let rounds = 24

    @Test func sharedModelGivesSerialResultsOnEightThreads() throws {
        let fixture = try WrenFileFixture.converted()
        let model = try WrenModel(bytes: fixture.bytes)
        let perImage = fixture.inputs.count / fixture.imageCount

        // Serial reference: one context, one image at a time.
        let serial = try WrenContext(model: model, maxBatch: 1)
        let expected = try (0..<fixture.imageCount).map { image in
            try serial.run(Array(fixture.inputs[(image * perImage)..<((image + 1) * perImage)]), batch: 1)
        }
        #expect(Set(expected.map { $0.map(\.bitPattern) }).count == fixture.imageCount, "the fixture's images should give distinct logits")

        let workers = (0..<Self.threadCount).map { index in
            Worker(model: model, inputs: fixture.inputs, imageCount: fixture.imageCount, expected: expected,
                   kernels: index % 2 == 0 ? .portable : .reference, rounds: Self.rounds, seed: index)
        }
        var threads: [pthread_t] = []
        for worker in workers {
            var thread = pthread_t()
            let argument = Unmanaged.passRetained(worker).toOpaque()
            let status = pthread_create(&thread, nil, { argument in
                let worker = Unmanaged<Worker>.fromOpaque(argument!).takeRetainedValue()
                worker.work()
                return nil
            }, argument)
            try #require(status == 0, "pthread_create failed with \(status)")
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }

        for worker in workers {
            #expect(worker.mismatches.isEmpty, "\(worker.mismatches.prefix(5))")
            #expect(worker.runs == Self.rounds)
        }
    }
}
