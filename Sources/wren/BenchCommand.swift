import ArgumentParser
import Foundation
import WrenCore
import WrenHost
import WrenPhotos

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure int8 inference latency and throughput of a .wren model.",
        discussion: reflowed("""
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
            """))

    @Argument(help: "The .wren model to run.")
    var model: String

    @Option(parsing: .unconditional, help: "Images per call.")
    var batch: Int = 1

    @Option(parsing: .unconditional, help: "Timed calls.")
    var iterations: Int = 100

    @Option(help: "Time calls for this many seconds instead of --iterations calls.")
    var seconds: Double?

    @Option(parsing: .unconditional, help: "Untimed calls first.")
    var warmup: Int = 10

    @OptionGroup(title: "Execution")
    var execution: ExecutionOptions

    @Flag(help: "Print one JSON object (median_ms, p90_ms, images_per_s, ...) instead of text.")
    var json = false

    @Flag(help: "Then time every layer (images one at a time, each layer shared among the threads: the batch-1 path) and print where the time goes, like TFLite's benchmark_model --enable_op_profiling.")
    var profile = false

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup cannot be negative") }
        if let seconds, !(seconds > 0 && seconds <= 86_400) { throw ValidationError("--seconds must be in (0, 86400]") }
    }

    func run() throws {
        let bytes = try FileSystem.readBytes(model)
        let loaded = try about(model) { try WrenModel(bytes: bytes) }
        let table = try execution.kernelTable()
        let threadCount = execution.threadCount
        let pool = ThreadPool(workers: threadCount)
        let context = try execution.namingTheArenaOption {
            try WrenContext(model: loaded, maxBatch: batch, kernels: table, parallelism: pool.parallelism, arenaLimit: execution.arenaLimit)
        }
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
        // Work that touches real input (no padding taps), the measure of efficiency against the
        // CPU's int8 peak (tools/int8_peak.c).
        let usefulMACs = loaded.description.usefulMultiplyAccumulates
        let gigaMACsPerSecond = Double(usefulMACs) * imagesPerSecond / 1e9
        let layers = profile ? try profileLayers(context, input: input, logits: &logits, calls: min(max(times.count, 1), 20)) : nil
        if json {
            print("{\"model\": \"\(model)\", \"kernels\": \"\(table.name)\", \"threads\": \(threadCount), \"batch\": \(batch), "
                  + "\"iterations\": \(times.count), \"median_ms\": \(median), \"p90_ms\": \(p90), \"images_per_s\": \(imagesPerSecond), "
                  + "\"arena_bytes\": \(context.arenaSize), \"useful_macs_per_image\": \(usefulMACs), \"useful_gmacs_per_s\": \(gigaMACsPerSecond)"
                  + (layers.map { ", \"profile\": [" + $0.map(\.json).joined(separator: ", ") + "]" } ?? "") + "}")
        } else {
            print("model:      \(model) (\(loaded.description.metadataValue("architecture") ?? "?"))")
            print("kernels:    \(table.name), \(threadCount) thread(s), batch \(batch), arena \(context.arenaSize) bytes")
            print("latency:    median \(format(Float(median))) ms, p90 \(format(Float(p90))) ms over \(times.count) calls")
            print("throughput: \(format(Float(imagesPerSecond))) images/s, \(format(Float(gigaMACsPerSecond))) G MAC/s "
                  + "(\(format(Float(usefulMACs) / 1e6)) M MACs per image outside padding; compare with tools/int8_peak.c)")
            if let layers { printProfile(layers) }
        }
    }

    /// One step of the profile: the input's quantization or a layer (with any layer fused into it).
    struct ProfiledStep {
        var name: String
        var operation: String
        var shape: String
        var usefulMACs: Int
        var millisecondsPerImage: Double
        var share: Double

        var json: String {
            "{\"name\": \"\(name)\", \"op\": \"\(operation)\", \"shape\": \"\(shape)\", \"useful_macs\": \(usefulMACs), "
                + "\"ms_per_image\": \(millisecondsPerImage), \"share\": \(share)}"
        }
    }

    private func profileLayers(_ context: WrenContext, input: [Float], logits: inout [Float], calls: Int) throws -> [ProfiledStep] {
        let description = context.model.description
        var measured = WrenContext.LayerProfile(layerCount: description.layers.count)
        try input.withUnsafeBufferPointer { inputBuffer in
            try logits.withUnsafeMutableBufferPointer { logitsBuffer in
                for _ in 0..<calls {
                    try context.profile(input: inputBuffer, batch: batch, logits: logitsBuffer, clock: Clock.nanoseconds, into: &measured)
                }
            }
        }
        let images = Double(calls * batch)
        let total = max(Double(measured.layers.reduce(measured.input, +)), 1)
        let perImage = { (nanoseconds: UInt64) in Double(nanoseconds) / images / 1e6 }
        var steps = [ProfiledStep(name: "input", operation: "quantize", shape: Self.shape(description.tensors[description.input.tensor]),
                                  usefulMACs: 0, millisecondsPerImage: perImage(measured.input), share: Double(measured.input) / total)]
        for (index, layer) in description.layers.enumerated() where !description.runsFusedWithPrevious(index) {
            let output = layer.output.map { description.tensors[$0] }
            steps.append(ProfiledStep(
                name: output?.name ?? "logits", operation: Self.operation(layer, fused: index + 1 < description.layers.count && description.runsFusedWithPrevious(index + 1)),
                shape: output.map(Self.shape) ?? "\(layer.outChannels)",
                usefulMACs: layer.op == .conv2d || layer.op == .averagePoolLinear ? description.usefulMultiplyAccumulates(layer: index) : 0,
                millisecondsPerImage: perImage(measured.layers[index]), share: Double(measured.layers[index]) / total))
        }
        return steps
    }

    private static func shape(_ tensor: TensorInfo) -> String {
        "\(tensor.channels)x\(tensor.height)x\(tensor.width) \(tensor.elementType == .int16 ? "int16" : "int8")"
    }

    private static func operation(_ layer: LayerInfo, fused: Bool) -> String {
        let base: String
        switch layer.op {
        case .conv2d: base = "conv \(layer.kernelSize)x\(layer.kernelSize)" + (layer.stride > 1 ? "/\(layer.stride)" : "")
        case .channelAffineReLU: base = "bn+relu"
        case .averagePoolLinear: base = "pool+linear"
        }
        return fused ? base + " +bn+relu" : base
    }

    private func printProfile(_ steps: [ProfiledStep]) {
        print("\nper layer (\(batch == 1 ? "" : "images one at a time, ")every layer shared among the threads; ms per image):")
        let nameWidth = max(5, steps.map(\.name.count).max() ?? 0)
        let header = "layer".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
        print("  \(header)  op                 output               ms/image   share   G MAC/s")
        for step in steps {
            let rate = step.millisecondsPerImage > 0 && step.usefulMACs > 0
                ? format(Float(Double(step.usefulMACs) / (step.millisecondsPerImage / 1000) / 1e9)) : "-"
            print("  " + step.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                  + step.operation.padding(toLength: 17, withPad: " ", startingAt: 0) + "  "
                  + step.shape.padding(toLength: 19, withPad: " ", startingAt: 0) + "  "
                  + String(repeating: " ", count: max(0, 8 - format(Float(step.millisecondsPerImage)).count)) + format(Float(step.millisecondsPerImage))
                  + "  " + String(repeating: " ", count: max(0, 5 - "\(Int((step.share * 100).rounded()))".count)) + "\(Int((step.share * 100).rounded()))%"
                  + "  " + String(repeating: " ", count: max(0, 8 - rate.count)) + rate)
        }
    }
}
