import Synchronization
import WrenCore

#if canImport(Glibc)
import Glibc
#endif

/// A small fork-join pool for `Parallelism`: the caller works too, helpers spin briefly between
/// jobs (a WRN runs dozens of short layers back to back) and sleep on a condition variable after.
/// One job at a time; `run` returns when every task has finished.
public final class ThreadPool: @unchecked Sendable {
    public let workerCount: Int

    private let generation = Atomic<Int>(0)
    private let nextTask = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    // Written by `run` before `generation` is bumped (release), read by helpers after they see the bump (acquire).
    private var taskCount = 0
    // The current job: a C function and its context (no closures, so nothing is allocated per job).
    private var task: Parallelism.Task?
    private var context: UnsafeMutableRawPointer?
    private var stopping = false
    private var sleepers = 0
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var threads: [pthread_t] = []
    private let spinLimit: Int

    /// `workers` threads in all, the caller included.
    public init(workers: Int, spinIterations: Int = 200_000) {
        workerCount = max(1, workers)
        spinLimit = spinIterations
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for index in 1..<workerCount {
            let context = Unmanaged.passRetained(HelperStart(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<HelperStart>.fromOpaque(raw!).takeRetainedValue()
                start.pool.helperLoop(index: start.index)
                return nil
            }, context)
            precondition(status == 0, "pthread_create failed with \(status)")
            threads.append(thread)
        }
    }

    deinit {
        pthread_mutex_lock(mutex)
        stopping = true
        generation.add(1, ordering: .releasing)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(condition)
        mutex.deallocate()
        condition.deallocate()
    }

    /// The `Parallelism` WrenCore contexts take. It keeps the pool alive.
    public var parallelism: Parallelism {
        Parallelism(workers: workerCount) { tasks, task, context in self.run(tasks, task, context) }
    }

    public func run(_ tasks: Int, _ task: Parallelism.Task, _ context: UnsafeMutableRawPointer) {
        if workerCount == 1 || tasks <= 1 {
            for index in 0..<tasks { task(context, index, 0) }
            return
        }
        self.task = task
        self.context = context
        taskCount = tasks
        nextTask.store(0, ordering: .relaxed)
        pending.store(workerCount - 1, ordering: .relaxed)
        generation.add(1, ordering: .releasing)
        pthread_mutex_lock(mutex)
        if sleepers > 0 { pthread_cond_broadcast(condition) }
        pthread_mutex_unlock(mutex)
        work(worker: 0)
        while pending.load(ordering: .acquiring) > 0 {}
        self.task = nil
        self.context = nil
    }

    private func work(worker: Int) {
        let task = self.task!
        let context = self.context!
        let count = taskCount
        while true {
            let index = nextTask.wrappingAdd(1, ordering: .relaxed).oldValue
            if index >= count { return }
            task(context, index, worker)
        }
    }

    private func helperLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                if spins < spinLimit {
                    spins += 1
                    continue
                }
                pthread_mutex_lock(mutex)
                sleepers += 1
                while generation.load(ordering: .acquiring) == seen && !stopping {
                    pthread_cond_wait(condition, mutex)
                }
                sleepers -= 1
                pthread_mutex_unlock(mutex)
            }
            seen = generation.load(ordering: .acquiring)
            pthread_mutex_lock(mutex)
            let stop = stopping
            pthread_mutex_unlock(mutex)
            if stop { return }
            work(worker: index)
            pending.subtract(1, ordering: .releasing)
        }
    }
}

private final class HelperStart {
    let pool: ThreadPool
    let index: Int
    init(pool: ThreadPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}
