import Foundation
import Testing
import WrenCore
import WrenHost

/// One context serves one thread at a time; a second thread calling `run` meanwhile is refused
/// with `contextBusy` instead of overwriting the first one's activations (wrong logits for both).
@Suite struct BusyContextTests {
    /// What the Parallelism below needs to reach the context it runs for (set after creation).
    final class Reentry: @unchecked Sendable {
        var context: WrenContext?
        var input: [Float] = []
        var nested: Result<[Float], WrenError>?
    }

    /// Deterministic: the host's `run` callback, called while the context runs a layer, runs the
    /// same context again, as another thread arriving mid-run would.
    @Test func runEnteredDuringARunIsRefusedAsBusy() throws {
        let fixture = try KeepWiderFixture(keepWider: false)
        let reentry = Reentry()
        let perImage = fixture.input.count / fixture.batch
        reentry.input = Array(fixture.input[..<perImage])
        // Two workers and a batch of one image: every layer goes through `run`, shared.
        let intruding = Parallelism(workers: 2) { tasks, task, context in
            if reentry.nested == nil, let inner = reentry.context {
                reentry.nested = Result { () throws(WrenError) in try inner.run(reentry.input, batch: 1) }
            }
            for index in 0..<tasks { task(context, index, index % 2) }
        }
        let context = try WrenContext(model: fixture.model, parallelism: intruding)
        reentry.context = context
        let logits = try context.run(reentry.input, batch: 1)
        #expect(throws: WrenError.contextBusy) { try reentry.nested?.get() }
        // The refusal left the context usable, with the same answer as a context of its own.
        reentry.context = nil
        #expect(try context.run(reentry.input, batch: 1) == logits)
        #expect(try WrenContext(model: fixture.model).run(reentry.input, batch: 1) == logits)
    }

    /// The context the threads share; per run, its outcome (0 right, 2 wrong logits, 3 another
    /// error), and per thread, how often it was refused as busy.
    final class Shared: @unchecked Sendable {
        let context: WrenContext
        let outcomes: UnsafeMutableBufferPointer<Int>
        let refusals: UnsafeMutableBufferPointer<Int>
        init(_ context: WrenContext, threads: Int, runs: Int) {
            self.context = context
            outcomes = .allocate(capacity: threads * runs)
            outcomes.initialize(repeating: 3)
            refusals = .allocate(capacity: threads)
            refusals.initialize(repeating: 0)
        }
        deinit {
            outcomes.deallocate()
            refusals.deallocate()
        }
    }

    /// Threads sharing one context, each trying again after every refusal so that they keep
    /// arriving while another one runs: every run gives exactly the logits a private context gives.
    @Test func sharedContextGivesRightLogitsOrBusy() throws {
        let fixture = try KeepWiderFixture(keepWider: false)
        let perImage = fixture.input.count / fixture.batch
        let images = (0..<fixture.batch).map { Array(fixture.input[($0 * perImage)..<(($0 + 1) * perImage)]) }
        let alone = try WrenContext(model: fixture.model)
        let expected = try images.map { try alone.run($0, batch: 1) }

        let threads = 4, runs = 40
        let shared = Shared(try WrenContext(model: fixture.model), threads: threads, runs: runs)
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var run = 0
            while run < runs {
                let image = (thread + run) % images.count
                do throws(WrenError) {
                    let logits = try shared.context.run(images[image], batch: 1)
                    shared.outcomes[thread * runs + run] = logits == expected[image] ? 0 : 2
                    run += 1
                } catch .contextBusy {
                    shared.refusals[thread] += 1
                    sched_yield()
                } catch {
                    run += 1
                }
            }
        }
        let counts = (0...3).map { kind in shared.outcomes.filter { $0 == kind }.count }
        #expect(counts[0] == threads * runs,
                "of \(threads * runs) runs: \(counts[2]) wrong logits, \(counts[3]) other errors (\(shared.refusals.reduce(0, +)) calls refused as busy)")
    }
}
