import ArgumentParser
import WrenCore
import WrenHost
import WrenPhotos

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure int8 inference latency and throughput of a .wren model.",
        discussion: """
            Runs the model on a fixed pseudo-random normalized input, after warm-up runs,
            and reports the median and 90th-percentile latency of one call (a whole batch)
            and images per second. The context (arena, threads, kernels) is set up once, as
            an application would.

            Compare against other runtimes with tools/bench_peers.py, which runs ONNX
            Runtime and OpenVINO on the same weights in the same session.

            Examples:
              wren bench model.wren
              wren bench model.wren --threads 2 --batch 32 --iterations 50
              wren bench model.wren --kernels portable --json
              wren bench model.wren --seconds 10
            """)

    @Argument(help: "The .wren model to run.")
    var model: String

    @Option(parsing: .unconditional, help: "Threads (default: the machine's processors).")
    var threads: Int?

    @Option(parsing: .unconditional, help: "Images per call.")
    var batch: Int = 1

    @Option(parsing: .unconditional, help: "Timed calls.")
    var iterations: Int = 100

    @Option(help: "Time calls for this many seconds instead of --iterations calls.")
    var seconds: Double?

    @Option(parsing: .unconditional, help: "Untimed calls first.")
    var warmup: Int = 10

    @Option(help: "Kernels: auto (fastest this CPU supports), avx512vnni, avx2, neondot, portable, reference, or a full kernel name; an unavailable one is an error that lists what this CPU offers. (default: $WREN_KERNELS, else auto)")
    var kernels: String?

    @Flag(help: "Print one JSON object (median_ms, p90_ms, images_per_s, ...) instead of text.")
    var json = false

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup cannot be negative") }
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be in 1...256") }
        if let seconds, !(seconds > 0 && seconds <= 86_400) { throw ValidationError("--seconds must be in (0, 86400]") }
    }

    func run() throws {
        let bytes = try FileSystem.readBytes(model)
        let loaded = try about(model) { try WrenModel(bytes: bytes) }
        let table = try KernelSelection.selectedKernels(kernels)
        let threadCount = threads ?? ThreadPool.processorCount
        let pool = ThreadPool(workers: threadCount)
        let context = try WrenContext(model: loaded, maxBatch: batch, kernels: table, parallelism: pool.parallelism)
        let info = loaded.input
        var generator = SplitMix64(seed: 42)
        let input = (0..<(batch * info.channels * info.height * info.width)).map { _ in Float.random(in: -2...2, using: &generator) }
        var logits = [Float](repeating: 0, count: batch * loaded.numClasses)
        var times: [Double] = []
        times.reserveCapacity(iterations)
        try input.withUnsafeBufferPointer { inputBuffer in
            try logits.withUnsafeMutableBufferPointer { logitsBuffer in
                for _ in 0..<warmup { try context.run(input: inputBuffer, batch: batch, logits: logitsBuffer) }
                let end = seconds.map { Clock.now() + $0 }
                while end.map({ times.isEmpty || Clock.now() < $0 }) ?? (times.count < iterations) {
                    let start = Clock.now()
                    try context.run(input: inputBuffer, batch: batch, logits: logitsBuffer)
                    times.append(Clock.now() - start)
                }
            }
        }
        times.sort()
        let median = times[times.count / 2] * 1000
        let p90 = times[min(times.count - 1, Int(Double(times.count) * 0.9))] * 1000
        let imagesPerSecond = median > 0 ? Double(batch) / (median / 1000) : 0
        if json {
            print("{\"model\": \"\(model)\", \"kernels\": \"\(table.name)\", \"threads\": \(threadCount), \"batch\": \(batch), "
                  + "\"iterations\": \(times.count), \"median_ms\": \(median), \"p90_ms\": \(p90), \"images_per_s\": \(imagesPerSecond), "
                  + "\"arena_bytes\": \(context.arenaSize)}")
        } else {
            print("model:      \(model) (\(loaded.description.metadataValue("architecture") ?? "?"))")
            print("kernels:    \(table.name), \(threadCount) thread(s), batch \(batch), arena \(context.arenaSize) bytes")
            print("latency:    median \(format(Float(median))) ms, p90 \(format(Float(p90))) ms over \(times.count) calls")
            print("throughput: \(format(Float(imagesPerSecond))) images/s")
        }
    }
}
