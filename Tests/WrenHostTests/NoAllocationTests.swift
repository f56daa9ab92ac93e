import AllocationCounter
import Foundation
import Testing
import WrenConvert
import WrenCore
import WrenHost

/// `run` allocates nothing: every buffer is planned into the context's arena at creation.
/// Counted by interposing malloc & co. for the calling thread (Tests/AllocationCounter).
@Suite struct NoAllocationTests {
    /// Also with int16 tensors kept wider (.wren 2.0), whose layers run on the wide kernels.
    @Test(arguments: [false, true])
    func runAllocatesNothingWithAnyKernel(keepWider: Bool) throws {
        let fixture = try KeepWiderFixture(keepWider: keepWider)
        let (model, input, batch) = (fixture.model, fixture.input, fixture.batch)
        var logits = [Float](repeating: 0, count: batch * model.numClasses)

        // The counter itself must see allocations, or a zero below would prove nothing.
        let probeBefore = wren_thread_allocation_count()
        let probe = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        probe.deallocate()
        #expect(wren_thread_allocation_count() > probeBefore, "the allocation counter is not interposing malloc")

        let pool = ThreadPool(workers: 2)
        // Work that runs on the pool's threads is counted by wrapping every task.
        let counted = Parallelism(workers: 2) { tasks, task, context in
            var job = CountedJob(task: task, context: context)
            withUnsafeMutablePointer(to: &job) { pool.parallelism.run(tasks, countedTask, $0) }
            taskAllocations.add(job.allocations.0 + job.allocations.1)
        }
        for table in KernelSelection.availableKernels() where table.name != KernelTable.reference.name {
          for parallelism in [Parallelism.serial, counted] {
            let context = try WrenContext(model: model, maxBatch: batch, kernels: table, parallelism: parallelism)
            try input.withUnsafeBufferPointer { inputBuffer in
                try logits.withUnsafeMutableBufferPointer { logitsBuffer in
                    try context.run(input: inputBuffer, batch: batch, logits: logitsBuffer)  // warm-up
                    let before = wren_thread_allocation_count()
                    taskAllocations.reset()
                    for _ in 0..<3 { try context.run(input: inputBuffer, batch: batch, logits: logitsBuffer) }
                    // Batch sizes below and above the worker count take both ways of sharing work.
                    try context.run(input: UnsafeBufferPointer(rebasing: inputBuffer[..<(inputBuffer.count / batch)]), batch: 1, logits: logitsBuffer)
                    let allocations = wren_thread_allocation_count() - before
                    #expect(allocations == 0, "\(table.name), \(parallelism.workers) workers, keep wider \(keepWider): run allocated \(allocations) times")
                    #expect(taskAllocations.value == 0, "\(table.name): tasks on the pool's threads allocated \(taskAllocations.value) times")
                }
            }
          }
        }
    }
}

/// A task of the wrapped pool and the allocations its calls made, per worker (two workers).
private struct CountedJob {
    var task: Parallelism.Task
    var context: UnsafeMutableRawPointer
    var allocations: (Int, Int) = (0, 0)
}

private func countedTask(_ job: UnsafeMutableRawPointer, _ index: Int, _ worker: Int) {
    let job = job.assumingMemoryBound(to: CountedJob.self)
    let before = wren_thread_allocation_count()
    job.pointee.task(job.pointee.context, index, worker)
    let made = wren_thread_allocation_count() - before
    // Each worker writes only its own count.
    if worker == 0 { job.pointee.allocations.0 += made } else { job.pointee.allocations.1 += made }
}

/// Allocations counted inside pool tasks since the last reset (updated between `run`s of the pool).
private final class TaskAllocations: @unchecked Sendable {
    private var total = 0
    func add(_ n: Int) { total += n }
    func reset() { total = 0 }
    var value: Int { total }
}
private let taskAllocations = TaskAllocations()
