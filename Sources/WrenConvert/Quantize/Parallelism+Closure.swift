import WrenCore

extension Parallelism {
    /// Calls `body(index, worker)` for every index in `0..<tasks` on the host's threads and returns
    /// when all are done. `worker` (in `0..<workers`) names the scratch a task may use; tasks that
    /// share nothing else need no locks.
    func forEach(_ tasks: Int, _ body: (_ index: Int, _ worker: Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            var closure = body
            withUnsafeMutablePointer(to: &closure) { pointer in
                run(tasks, { context, index, worker in
                    context.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(index, worker)
                }, UnsafeMutableRawPointer(pointer))
            }
        }
    }
}
