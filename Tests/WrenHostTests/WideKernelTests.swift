import Foundation
import Testing
import WrenConvert
import WrenCore
import WrenHost
import WrenTestSupport

/// The kernels of layers that read or write an int16 tensor (formats/wren-v1.md §7.6): every
/// table's wide convolution (the portable source, also compiled per ISA) against the wide
/// reference on random shapes and element types, the wide reference against the int8 reference where all
/// tensors are int8, and whole `--keep-wider` models identical across kernel tables and threads.
@Suite struct WideKernelTests {
    typealias Generator = SplitMix64

    /// A random wide convolution: each of input, residual and output int8 or int16, multipliers
    /// scaled so int16 values are mostly in range (and, with `extremeScales`, mostly saturated).
    struct Case {
        var parameters: Conv2DParameters
        var inputType: ElementType, residualType: ElementType, outputType: ElementType
        var input: [Int32], packed: [Int8], bias: [Int32], multipliers: [Int32], shifts: [Int32]
        var residual: [Int32]?

        init(_ g: inout Generator, outChannels: Int, extremeScales: Bool = false, types: (ElementType, ElementType, ElementType)? = nil) {
            func type() -> ElementType { Bool.random(using: &g) ? .int16 : .int8 }
            (inputType, residualType, outputType) = types ?? (type(), type(), type())
            let kernel = [1, 3, 5][Int.random(in: 0...2, using: &g)]
            let padding = Int.random(in: 0...(kernel / 2), using: &g)
            let stride = Int.random(in: 1...2, using: &g)
            // 70 channels × 3×3 = 630 deep: 158 depth groups, past the portable kernel's 64-group int32 runs.
            let inChannels = [1, 3, 4, 5, 16, 17, 33, 70][Int.random(in: 0...7, using: &g)]
            let height = Int.random(in: max(1, kernel - 2 * padding)...9, using: &g)
            let width = Int.random(in: max(1, kernel - 2 * padding)...9, using: &g)
            let outHeight = (height + 2 * padding - kernel) / stride + 1
            let outWidth = (width + 2 * padding - kernel) / stride + 1
            let useResidual = Bool.random(using: &g)
            func zeroPoint(_ t: ElementType) -> Int32 { t == .int16 ? 0 : Int32.random(in: -128...127, using: &g) }
            // Real multipliers follow the scales: ×1/128 reading int16, ×128 writing int16.
            let outGain = outputType == .int16 ? 128.0 : 1.0
            let inGain = inputType == .int16 ? 1.0 / 128 : 1.0
            let residualReal = (residualType == .int16 ? 1.0 / 128 : 1.0) * outGain
                * (extremeScales ? Double.random(in: 0.5...0x1p20, using: &g) : Double.random(in: 0.1...3, using: &g))
            parameters = Conv2DParameters(
                inChannels: inChannels, inHeight: height, inWidth: width, outChannels: outChannels,
                outHeight: outHeight, outWidth: outWidth, kernelSize: kernel, stride: stride, padding: padding,
                inputZeroPoint: zeroPoint(inputType), outputZeroPoint: zeroPoint(outputType),
                relu: Bool.random(using: &g), residualZeroPoint: zeroPoint(residualType),
                residualMultiplier: useResidual ? QuantizedMultiplier(real: residualReal)! : QuantizedMultiplier(multiplier: 0, rightShift: 0),
                fractionBits: useResidual && Bool.random(using: &g) ? WrenFormat.singleRoundingFractionBits : 0)
            func values(_ count: Int, _ t: ElementType) -> [Int32] {
                (0..<count).map { _ in Int32.random(in: t.minimum...t.maximum, using: &g) }
            }
            input = values(height * width * inChannels, inputType)
            // Every fourth case puts the input and weights at their extremes: accumulators far beyond int32.
            let extremes = Int.random(in: 0...3, using: &g) == 0
            let (low, high) = (inputType.minimum, inputType.maximum)
            if extremes { input = input.map { $0 >= 0 ? high : low } }
            let depth = parameters.depth
            let weights = (0..<(outChannels * depth)).map { _ in extremes ? Int8([-127, 127][Int.random(in: 0...1, using: &g)]) : Int8.random(in: -127...127, using: &g) }
            packed = PackedConvWeights.pack(weights, outChannels: outChannels, depth: depth)
            bias = (0..<outChannels).map { _ in Int32.random(in: -(1 << 20)...(1 << 20), using: &g) }
            let scales = (0..<outChannels).map { _ in
                QuantizedMultiplier(real: inGain * outGain * (extremeScales ? Double.random(in: 0.5...0x1p20, using: &g) : Double.random(in: 1e-4...0.05, using: &g)))!
            }
            multipliers = scales.map(\.multiplier)
            shifts = scales.map(\.rightShift)
            residual = useResidual ? values(outHeight * outWidth * outChannels, residualType) : nil
        }

        var description: String {
            "\(inputType)→\(outputType), residual \(residual == nil ? "none" : "\(residualType)"), \(parameters)"
        }

        /// Runs `kernel` over the output in tiles of `tilePixels`.
        func run(_ kernel: (WideConv2DTile) -> Void, tilePixels: Int) -> [Int32] {
            let p = parameters
            let pixels = p.outHeight * p.outWidth
            let paddedDepth = PackedConvWeights.paddedDepth(p.depth)
            var owned: [UnsafeMutableRawPointer] = []
            defer { owned.forEach { $0.deallocate() } }
            func raw(_ values: [Int32], _ type: ElementType) -> UnsafeMutableRawPointer {
                let memory = UnsafeMutableRawPointer.allocate(byteCount: max(values.count, 1) * type.byteSize, alignment: 64)
                for (i, v) in values.enumerated() { type.store(v, memory, i) }
                owned.append(memory)
                return memory
            }
            func buffer<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
                let memory = UnsafeMutablePointer<T>.allocate(capacity: max(values.count, 1))
                memory.initialize(from: values, count: values.count)
                owned.append(UnsafeMutableRawPointer(memory))
                return memory
            }
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: WideConv2DTile.scratchBytes(paddedDepth), alignment: 64)
            owned.append(scratch)
            let output = raw([Int32](repeating: 0, count: pixels * p.outChannels), outputType)
            let x = raw(input, inputType), r = residual.map { raw($0, residualType) }
            let w = buffer(packed), b = buffer(bias), m = buffer(multipliers), s = buffer(shifts)
            var first = 0
            while first < pixels {
                kernel(WideConv2DTile(
                    parameters: p, paddedDepth: paddedDepth, inputType: inputType, residualType: residualType,
                    outputType: outputType, input: x, weights: w, bias: b, multipliers: m, shifts: s,
                    residual: r.map { UnsafeRawPointer($0) }, output: output, firstPixel: first,
                    pixelCount: min(tilePixels, pixels - first), scratch: scratch))
                first += tilePixels
            }
            return (0..<(pixels * p.outChannels)).map { outputType.load(output, $0) }
        }
    }

    /// Every table's wide kernel (the portable source, compiled for AVX-512 and AVX2 in their
    /// modules) against the reference.
    @Test(arguments: KernelSelection.availableKernels().map(\.name))
    func wideConvolutionMatchesTheReference(_ name: String) {
        let table = KernelSelection.availableKernels().first { $0.name == name }!
        var g = Generator(seed: 0x16B17)
        var saturated = 0, total = 0
        for trial in 0..<240 {
            let outChannels = [1, 15, 16, 17, 31, 32, 33, 48][trial % 8]
            let c = Case(&g, outChannels: outChannels, extremeScales: trial >= 200)
            let tile = [1, 3, 4, 5, 8, 32][trial % 6]
            let expected = c.run(wideConv2DReference, tilePixels: 1 << 20)
            let got = c.run(table.wideConv2D, tilePixels: tile)
            #expect(got == expected, "\(name) trial \(trial), tile \(tile): \(c.description)")
            if got != expected { return }
            saturated += expected.filter { $0 == c.outputType.maximum || $0 == c.outputType.minimum }.count
            total += expected.count
        }
        // Both the in-range and the saturating (or ReLU-floored) paths ran: measured 55%.
        #expect(saturated > total / 50 && saturated < total * 3 / 4, "\(saturated) of \(total) outputs at a bound")
    }

    /// Every kernel table (the reference included) runs wide layers through one of the two kernels.
    @Test func everyTableHasAWideKernel() {
        var g = Generator(seed: 5)
        let c = Case(&g, outChannels: 17, types: (.int16, .int16, .int16))
        let expected = c.run(wideConv2DReference, tilePixels: 1 << 20)
        for table in KernelSelection.availableKernels() {
            #expect(c.run(table.wideConv2D, tilePixels: 8) == expected, "\(table.name)")
        }
    }

    /// With every tensor int8, §7.6's definition is §7.3's: the wide reference equals the int8 one.
    @Test func wideReferenceWithInt8TensorsIsTheInt8Reference() {
        var g = Generator(seed: 0x88)
        for trial in 0..<60 {
            let c = Case(&g, outChannels: [3, 16, 33][trial % 3], extremeScales: trial >= 45, types: (.int8, .int8, .int8))
            let p = c.parameters
            var patch = [Int32](repeating: 0, count: p.depth)
            var out = [Int8](repeating: 0, count: p.outHeight * p.outWidth * p.outChannels)
            let residual = c.residual.map { $0.map { Int8($0) } } ?? []
            residual.withUnsafeBufferPointer { r in
                s8Conv2DReference(
                    p, input: c.input.map { Int8($0) }, weights: c.packed, bias: c.bias, multipliers: c.multipliers, shifts: c.shifts,
                    residual: c.residual == nil ? nil : r.baseAddress, output: &out, patch: &patch)
            }
            #expect(c.run(wideConv2DReference, tilePixels: 5) == out.map(Int32.init), "trial \(trial): \(c.description)")
        }
    }

    /// Whole digits models with kept-wider tensors: every activation (int8 and int16) and the logits
    /// identical across kernel tables and thread counts.
    @Test func keepWiderModelsAreIdenticalAcrossKernelsAndThreads() throws {
        let fixture = try KeepWiderFixture(keepWider: true)
        let (model, input, batch) = (fixture.model, fixture.input, fixture.batch)
        #expect(model.description.majorVersion == 2)
        #expect(model.description.tensors.filter { $0.elementType == .int16 }.map(\.name).sorted() == KeepWiderFixture.keptWider.sorted())

        func activations(_ table: KernelTable, threads: Int) throws -> ([Float], [[Int32]]) {
            let pool = ThreadPool(workers: threads)
            let context = try WrenContext(model: model, maxBatch: batch, retainActivations: true, kernels: table, parallelism: pool.parallelism)
            let logits = try context.run(input, batch: batch)
            let tensors = (0..<model.description.tensors.count).map { index -> [Int32] in
                if let values = context.activations(tensor: index, batch: batch) { return values.map(Int32.init) }
                return context.wideActivations(tensor: index, batch: batch)!.map(Int32.init)
            }
            return (logits, tensors)
        }
        let (expectedLogits, expectedTensors) = try activations(.reference, threads: 1)
        for table in KernelSelection.availableKernels() {
            for threads in [1, 2, 3] {
                let pool = ThreadPool(workers: threads)
                let context = try WrenContext(model: model, maxBatch: batch, kernels: table, parallelism: pool.parallelism)
                #expect(try context.run(input, batch: batch) == expectedLogits, "\(table.name), \(threads) threads")
                let (logits, tensors) = try activations(table, threads: threads)
                #expect(logits == expectedLogits, "\(table.name) with \(threads) threads, retained")
                for (index, values) in tensors.enumerated() where values != expectedTensors[index] {
                    Issue.record("tensor \(model.description.tensors[index].name) differs with \(table.name), \(threads) threads")
                }
            }
        }
    }
}
