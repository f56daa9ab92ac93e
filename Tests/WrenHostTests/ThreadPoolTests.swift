import Synchronization
import Testing
@testable import WrenHost

/// The pool's caller works too, across the wrap of the 32-bit job number that `state` stores.
@Suite struct ThreadPoolTests {
    /// Two tasks that each wait (up to 2 s) until both have started: they finish promptly only if
    /// the caller and the helper each run one at the same time.
    final class Rendezvous: @unchecked Sendable {
        let started = Atomic<Int>(0)
        let timedOut = Atomic<Int>(0)
        let workers = Mutex<[Int]>([])
    }

    @Test func callerTakesTasksAcrossTheJobCounterWrap() {
        let pool = ThreadPool(workers: 2, spinIterations: 100_000, firstJob: UInt32.max - 2)
        for job in 0..<6 {
            let rendezvous = Rendezvous()
            withExtendedLifetime(rendezvous) {
                pool.run(2, { context, _, worker in
                    let r = Unmanaged<Rendezvous>.fromOpaque(context).takeUnretainedValue()
                    r.workers.withLock { $0.append(worker) }
                    r.started.add(1, ordering: .sequentiallyConsistent)
                    let deadline = ContinuousClock.now + .seconds(2)
                    while r.started.load(ordering: .sequentiallyConsistent) < 2 {
                        if ContinuousClock.now > deadline {
                            r.timedOut.add(1, ordering: .sequentiallyConsistent)
                            return
                        }
                    }
                }, Unmanaged.passUnretained(rendezvous).toOpaque())
            }
            #expect(rendezvous.timedOut.load(ordering: .sequentiallyConsistent) == 0, "job \(job) after the start near the wrap")
            #expect(rendezvous.workers.withLock { $0.sorted() } == [0, 1], "job \(job)")
        }
    }
}
