/// How a context spreads work over threads. `WrenCore` has no threads of its own (it must build
/// for bare-metal targets); the host supplies `run`, which calls `task(context, index, worker)` for
/// every index in `0..<tasks` on up to `workers` threads and returns when all are done. `worker` is
/// in `0..<workers` and tells the task which scratch to use.
///
/// Tasks are C function pointers with a context pointer (as pthreadpool does), not closures: they
/// carry no closure context to manage across threads, build the same way for Embedded Swift, and
/// a C host could supply `run` itself.
public struct Parallelism: Sendable {
    public typealias Task = @convention(c) (_ context: UnsafeMutableRawPointer, _ index: Int, _ worker: Int) -> Void

    public var workers: Int
    public var run: @Sendable (_ tasks: Int, _ task: Task, _ context: UnsafeMutableRawPointer) -> Void

    public init(workers: Int, run: @escaping @Sendable (_ tasks: Int, _ task: Task, _ context: UnsafeMutableRawPointer) -> Void) {
        self.workers = workers
        self.run = run
    }

    /// Everything on the calling thread.
    public static let serial = Parallelism(workers: 1) { tasks, task, context in
        for index in 0..<tasks { task(context, index, 0) }
    }
}
