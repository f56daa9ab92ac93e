/// How a context spreads work over threads. `WrenCore` has no threads of its own (it must build
/// for bare-metal targets); the host supplies `run`, which calls `body(task, worker)` for every
/// task in `0..<tasks` on up to `workers` threads and returns when all are done. `worker` is in
/// `0..<workers` and tells the body which scratch to use.
public struct Parallelism: Sendable {
    public var workers: Int
    public var run: @Sendable (_ tasks: Int, _ body: (_ task: Int, _ worker: Int) -> Void) -> Void

    public init(workers: Int, run: @escaping @Sendable (_ tasks: Int, _ body: (_ task: Int, _ worker: Int) -> Void) -> Void) {
        self.workers = workers
        self.run = run
    }

    /// Everything on the calling thread.
    public static let serial = Parallelism(workers: 1) { tasks, body in
        for task in 0..<tasks { body(task, 0) }
    }
}
