import AllocationCounter
import Foundation
import Testing
import WrenConvert
import WrenCore
import WrenHost

/// `run` allocates nothing: every buffer is planned into the context's arena at creation.
/// Counted by interposing malloc & co. for the calling thread (Tests/AllocationCounter).
@Suite struct NoAllocationTests {
    @Test func runAllocatesNothingWithAnyKernel() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let models = root.appendingPathComponent("fixtures/models")
        let checkpoint = try CheckpointLoader.load(path: models.appendingPathComponent("wrn10_2_c3_bias.pth").path)
        let inputArray = try NumpyArray.read(path: models.appendingPathComponent("wrn10_2_c3_bias.input.npy").path)
        let input = try inputArray.floats()
        let batch = inputArray.shape[0]
        let converted = try Converter.convert(checkpoint: checkpoint, calibration: input, count: batch, options: ConversionOptions())
        let model = try WrenModel(bytes: converted.bytes)
        var logits = [Float](repeating: 0, count: batch * model.numClasses)

        // The counter itself must see allocations, or a zero below would prove nothing.
        let probeBefore = wren_thread_allocation_count()
        let probe = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        probe.deallocate()
        #expect(wren_thread_allocation_count() > probeBefore, "the allocation counter is not interposing malloc")

        let pool = ThreadPool(workers: 2)
        for table in Runtime.availableKernels() where table.name != KernelTable.reference.name {
          for parallelism in [Parallelism.serial, pool.parallelism] {
            let context = try WrenContext(model: model, maxBatch: batch, kernels: table, parallelism: parallelism)
            try input.withUnsafeBufferPointer { inputBuffer in
                try logits.withUnsafeMutableBufferPointer { logitsBuffer in
                    try context.run(input: inputBuffer, batch: batch, logits: logitsBuffer)  // warm-up
                    let before = wren_thread_allocation_count()
                    for _ in 0..<3 { try context.run(input: inputBuffer, batch: batch, logits: logitsBuffer) }
                    let allocations = wren_thread_allocation_count() - before
                    #expect(allocations == 0, "\(table.name), \(parallelism.workers) workers: run allocated \(allocations) times")
                }
            }
          }
        }
    }
}
