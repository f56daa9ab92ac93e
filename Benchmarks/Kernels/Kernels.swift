import Benchmark
import WrenCore
import WrenHost

/// One convolution of a WRN, run by one kernel table over a whole image per iteration.
/// Reports GMAC/s (multiply-accumulates, zero-padding taps included) as a custom metric.
/// Names are "<kernel> <shape>"; `--filter` must match a whole name (`--filter '.*avx512vnni.*'`).
struct ConvShape {
    var name: String
    var inChannels, outChannels, size, kernel, stride: Int

    var outSize: Int { (size + 2 * (kernel / 2) - kernel) / stride + 1 }
    var macs: Int { outSize * outSize * outChannels * kernel * kernel * inChannels }
}

let shapes = [
    ConvShape(name: "wrn16_4.block1.3x3.64", inChannels: 64, outChannels: 64, size: 32, kernel: 3, stride: 1),
    ConvShape(name: "wrn16_4.block3.3x3.256", inChannels: 256, outChannels: 256, size: 8, kernel: 3, stride: 1),
    ConvShape(name: "wrn28_10.block1.3x3.160", inChannels: 160, outChannels: 160, size: 32, kernel: 3, stride: 1),
    ConvShape(name: "wrn28_10.block3.3x3.640", inChannels: 640, outChannels: 640, size: 8, kernel: 3, stride: 1),
    ConvShape(name: "wrn28_10.shortcut.1x1s2.320", inChannels: 320, outChannels: 640, size: 16, kernel: 1, stride: 2),
]

/// Buffers for one shape, filled with a fixed pattern (values don't change the work).
final class ConvBuffers {
    let parameters: Conv2DParameters
    let paddedDepth: Int
    let input, weights: UnsafeMutablePointer<Int8>
    let output: UnsafeMutablePointer<Int8>
    let bias, multipliers, shifts: UnsafeMutablePointer<Int32>
    let scratch: UnsafeMutableRawPointer

    init(_ s: ConvShape, table: KernelTable) {
        parameters = Conv2DParameters(
            inChannels: s.inChannels, inHeight: s.size, inWidth: s.size, outChannels: s.outChannels,
            outHeight: s.outSize, outWidth: s.outSize, kernelSize: s.kernel, stride: s.stride, padding: s.kernel / 2,
            inputZeroPoint: -3, outputZeroPoint: 5, relu: true)
        paddedDepth = PackedConvWeights.paddedDepth(parameters.depth)
        input = .allocate(capacity: s.size * s.size * s.inChannels)
        for i in 0..<(s.size * s.size * s.inChannels) { input[i] = Int8(truncatingIfNeeded: i &* 37) }
        let weightBytes = PackedConvWeights.byteCount(outChannels: s.outChannels, depth: parameters.depth)
        weights = .allocate(capacity: weightBytes)
        for i in 0..<weightBytes { weights[i] = Int8(truncatingIfNeeded: (i &* 11) % 200 - 100) }
        output = .allocate(capacity: s.outSize * s.outSize * s.outChannels)
        bias = .allocate(capacity: s.outChannels)
        multipliers = .allocate(capacity: s.outChannels)
        shifts = .allocate(capacity: s.outChannels)
        for o in 0..<s.outChannels {
            bias[o] = 1000
            multipliers[o] = 1 << 30
            shifts[o] = 12
        }
        scratch = .allocate(byteCount: table.scratchBytes(paddedDepth) + 4 * parameters.depth, alignment: 64)
    }

    deinit {
        input.deallocate()
        weights.deallocate()
        output.deallocate()
        bias.deallocate()
        multipliers.deallocate()
        shifts.deallocate()
        scratch.deallocate()
    }

    func run(_ table: KernelTable) {
        let pixels = parameters.outHeight * parameters.outWidth
        var first = 0
        while first < pixels {
            table.conv2d(S8Conv2DTile(
                parameters: parameters, paddedDepth: paddedDepth, input: input, weights: weights, unsignedInputBias: bias,
                signedInputBias: bias,  // bias values shape only the outputs, not the timing
                multipliers: multipliers, shifts: shifts, residual: nil, output: output, firstPixel: first,
                pixelCount: min(table.pixelsPerTile, pixels - first), scratch: scratch))
            first += table.pixelsPerTile
        }
    }
}

let gmacPerSecond = BenchmarkMetric.custom("MMAC/s (K = GMAC/s)", polarity: .prefersLarger, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, gmacPerSecond], warmupIterations: 3,
        maxDuration: .seconds(2), maxIterations: 200)
    for table in KernelSelection.availableKernels() where table.name != KernelTable.reference.name {
        for shape in shapes {
            // Buffers are made once per benchmark in `setup`, outside the measured region, so the wall clock
            // and malloc counts are the kernel's alone (it should allocate nothing).
            Benchmark("\(table.name) \(shape.name)") { benchmark, buffers in
                for _ in benchmark.scaledIterations {
                    let start = ContinuousClock.now
                    buffers.run(table)
                    let elapsed = (ContinuousClock.now - start).components
                    let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
                    benchmark.measurement(gmacPerSecond, Int(Double(shape.macs) / seconds / 1e6))
                }
            } setup: {
                ConvBuffers(shape, table: table)
            }
        }
    }
}
