import CBLAS
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed team of threads that runs one closure per member, created once and reused by every
/// layer call, so a training step starts no threads and allocates nothing.
///
/// The layers split each call's work into one fixed share per member: a convolution hands each
/// member whole chunks of images (its own im2col, GEMMs and col2im, with its own scratch), batch
/// norm hands it whole channels. Channel splits give bit-identical results for any team size; the
/// weight gradient of a convolution sums one partial per member in member order, so it is
/// deterministic for a given team size.
///
/// Every member calls BLAS, so the team sets OpenBLAS to one thread (`openblas_set_num_threads(1)`,
/// process-wide) to avoid running 2 × 2 threads on 2 cores. A team of one does too: `--threads 1`
/// means one thread, and a GEMM's result must not depend on which team (or test) ran before.
///
/// `run` is not reentrant and is called from one thread at a time (the training loop's).
public final class ThreadTeam: @unchecked Sendable {
    /// Members, including the calling thread.
    public let count: Int
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>
    private let finished: UnsafeMutablePointer<pthread_cond_t>
    // Guarded by `mutex`.
    private var generation = 0
    private var pending = 0
    private var stopping = false
    private var task: TeamTask?
    private var arguments: UnsafeRawPointer?
    private var threads: [pthread_t] = []

    /// A team of one: everything runs on the calling thread.
    public static let single = ThreadTeam(validatedCount: 1)

    public convenience init(count: Int) throws(TrainingError) {
        guard count >= 1, count <= 256 else { throw .invalidConfiguration("a team of \(count) threads (must be 1...256)") }
        self.init(validatedCount: count)
        try startMembers()
    }

    private init(validatedCount count: Int) {
        openblas_set_num_threads(1)
        self.count = count
        mutex = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        finished = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(finished, nil)
    }

    private func startMembers() throws(TrainingError) {
        guard count > 1 else { return }
        for member in 1..<count {
            let context = Unmanaged.passRetained(MemberContext(team: self, member: member)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(&thread, nil, { context in
                let member = Unmanaged<MemberContext>.fromOpaque(context!).takeRetainedValue()
                member.team.work(as: member.member)
                return nil
            }, context)
            guard status == 0 else {
                Unmanaged<MemberContext>.fromOpaque(context).release()
                stopMembers()
                throw .invalidConfiguration("could not start thread \(member) of \(count) (pthread_create returned \(status))")
            }
            threads.append(thread)
        }
    }

    deinit {
        stopMembers()
        pthread_cond_destroy(finished)
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        finished.deallocate()
        wake.deallocate()
        mutex.deallocate()
    }

    /// Runs `task(arguments, member)` for every member 0..<count, member 0 on the calling thread,
    /// and returns when all have finished.
    public func run(_ task: TeamTask, arguments: UnsafeRawPointer) {
        guard count > 1 else { return task(arguments, 0) }
        pthread_mutex_lock(mutex)
        self.task = task
        self.arguments = arguments
        pending = count - 1
        generation &+= 1
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        task(arguments, 0)
        pthread_mutex_lock(mutex)
        while pending > 0 { pthread_cond_wait(finished, mutex) }
        self.task = nil
        self.arguments = nil
        pthread_mutex_unlock(mutex)
    }

    /// The same with the arguments in a value of any type, which `task` reads back with
    /// `arguments.assumingMemoryBound(to: Arguments.self).pointee`.
    public func run<Arguments>(_ task: TeamTask, with arguments: Arguments) {
        withUnsafePointer(to: arguments) { run(task, arguments: UnsafeRawPointer($0)) }
    }

    /// Member `member`'s share of `0..<total` when split into `count` contiguous, nearly equal parts.
    public func share(of total: Int, member: Int) -> Range<Int> {
        (total * member / count)..<(total * (member + 1) / count)
    }

    private func work(as member: Int) {
        // The generation this member has already run; the team starts at 0 with no job.
        var seen = 0
        pthread_mutex_lock(mutex)
        while true {
            while generation == seen && !stopping { pthread_cond_wait(wake, mutex) }
            if stopping { break }
            seen = generation
            let (task, arguments) = (self.task!, self.arguments!)
            pthread_mutex_unlock(mutex)
            task(arguments, member)
            pthread_mutex_lock(mutex)
            pending -= 1
            if pending == 0 { pthread_cond_signal(finished) }
        }
        pthread_mutex_unlock(mutex)
    }

    private func stopMembers() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
    }
}

/// What every member of a `run` executes: a C function, so handing it to the members allocates
/// nothing (a Swift closure passed to another thread needs a heap context), given the address of
/// the caller's arguments and the member number.
public typealias TeamTask = @convention(c) (_ arguments: UnsafeRawPointer, _ member: Int) -> Void

/// What a member thread starts with. The team is unowned: its deinit joins the members first.
private final class MemberContext {
    unowned(unsafe) let team: ThreadTeam
    let member: Int

    init(team: ThreadTeam, member: Int) {
        self.team = team
        self.member = member
    }
}
