import Synchronization
import WrenCore

#if canImport(Glibc)
import Glibc
#endif

/// A small fork-join pool for `Parallelism`. The caller works too. Helpers spin briefly between
/// jobs (a WRN runs dozens of short layers back to back), then sleep on a condition variable.
///
/// Tasks are claimed one at a time from a single 64-bit word holding (job number, next index), so
/// a helper that wakes late, or is descheduled by another process, can never claim a task of a
/// newer job, and the caller only waits for tasks someone actually claimed: a sleeping or
/// preempted helper costs nothing but its share of the work.
public final class ThreadPool: @unchecked Sendable {
    /// Online processors, for a default thread count.
    public static var processorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    public let workerCount: Int

    /// (job << 32) | next task index; index `closed` means no task may be claimed. The job number
    /// is the low 32 bits of `job`, which wraps (a long-running server passes 2^32 jobs in days).
    private let state = Atomic<UInt64>(0)
    private let completed = Atomic<Int>(0)
    private let taskBits = Atomic<UInt>(0)
    private let contextBits = Atomic<UInt>(0)
    private let taskCount = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private var sleepers = 0
    private var job: UInt32
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var threads: [pthread_t] = []
    private let spinLimit: Int
    private static let closed: UInt64 = 0xFFFF_FFFF

    /// `workers` threads in all, the caller included.
    public convenience init(workers: Int, spinIterations: Int = 100_000) {
        self.init(workers: workers, spinIterations: spinIterations, firstJob: 0)
    }

    /// `firstJob` lets tests start next to the job counter's wrap.
    init(workers: Int, spinIterations: Int, firstJob: UInt32) {
        job = firstJob
        workerCount = max(1, workers)
        spinLimit = spinIterations
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        state.store(UInt64(job) << 32 | Self.closed, ordering: .relaxed)
        for index in 1..<workerCount {
            let context = Unmanaged.passRetained(HelperStart(pool: self, index: index, firstJob: firstJob)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<HelperStart>.fromOpaque(raw!).takeRetainedValue()
                start.pool.helperLoop(index: start.index, seen: start.firstJob)
                return nil
            }, context)
            precondition(status == 0, "pthread_create failed with \(status)")
            threads.append(thread)
        }
    }

    deinit {
        pthread_mutex_lock(mutex)
        stopping.store(true, ordering: .releasing)
        job &+= 1
        state.store(UInt64(job) << 32 | Self.closed, ordering: .releasing)
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

    /// Calls `task(context, index, worker)` for every index in `0..<tasks`; returns when all are done.
    /// One job at a time: call from one thread.
    public func run(_ tasks: Int, _ task: Parallelism.Task, _ context: UnsafeMutableRawPointer) {
        if workerCount == 1 || tasks <= 1 {
            for index in 0..<tasks { task(context, index, 0) }
            return
        }
        precondition(tasks < Int(Self.closed), "too many tasks")
        job &+= 1
        // The previous job is closed (index `closed`), so no one can claim while the fields change.
        taskBits.store(UInt(bitPattern: unsafeBitCast(task, to: UnsafeRawPointer.self)), ordering: .relaxed)
        contextBits.store(UInt(bitPattern: context), ordering: .relaxed)
        taskCount.store(tasks, ordering: .relaxed)
        completed.store(0, ordering: .relaxed)
        state.store(UInt64(job) << 32, ordering: .releasing)
        pthread_mutex_lock(mutex)
        if sleepers > 0 { pthread_cond_broadcast(condition) }
        pthread_mutex_unlock(mutex)
        work(job: job, task: task, context: context, count: tasks, worker: 0)
        while completed.load(ordering: .acquiring) < tasks {}
        state.store(UInt64(job) << 32 | Self.closed, ordering: .releasing)
    }

    /// Claims and runs tasks of `job` until none are left or a newer job has begun.
    private func work(job: UInt32, task: Parallelism.Task, context: UnsafeMutableRawPointer, count: Int, worker: Int) {
        var current = state.load(ordering: .acquiring)
        while UInt32(truncatingIfNeeded: current >> 32) == job {
            let index = current & 0xFFFF_FFFF
            if index >= UInt64(count) { return }
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                task(context, Int(index), worker)
                completed.add(1, ordering: .releasing)
                current = state.load(ordering: .acquiring)
            } else {
                current = original
            }
        }
    }

    /// `seen`: the job current when the pool was made (a job published before this thread starts
    /// is still new to it).
    private func helperLoop(index: Int, seen firstSeen: UInt32) {
        var seen = firstSeen
        func currentJob() -> UInt32 { UInt32(truncatingIfNeeded: state.load(ordering: .acquiring) >> 32) }
        while true {
            var spins = 0
            while currentJob() == seen {
                if spins < spinLimit {
                    spins += 1
                    continue
                }
                pthread_mutex_lock(mutex)
                sleepers += 1
                while currentJob() == seen && !stopping.load(ordering: .acquiring) {
                    pthread_cond_wait(condition, mutex)
                }
                sleepers -= 1
                pthread_mutex_unlock(mutex)
            }
            if stopping.load(ordering: .acquiring) { return }
            seen = currentJob()
            // Fields may already belong to a newer job; `work` then claims nothing (job mismatch).
            let taskPointer = UnsafeRawPointer(bitPattern: taskBits.load(ordering: .relaxed))
            guard let taskPointer, let context = UnsafeMutableRawPointer(bitPattern: contextBits.load(ordering: .relaxed)) else { continue }
            let task = unsafeBitCast(taskPointer, to: Parallelism.Task.self)
            work(job: seen, task: task, context: context, count: taskCount.load(ordering: .relaxed), worker: index)
        }
    }
}

private final class HelperStart {
    let pool: ThreadPool
    let index: Int
    let firstJob: UInt32
    init(pool: ThreadPool, index: Int, firstJob: UInt32) {
        self.pool = pool
        self.index = index
        self.firstJob = firstJob
    }
}
