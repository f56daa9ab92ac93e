import Foundation
import Testing
import WrenConvert
import WrenCore
import WrenHost
import WrenTestSupport

/// Every kernel table this machine offers (AVX-512 VNNI and AVX2 where the CPU has them, portable,
/// reference) gives bit-identical results: tile by tile on random shapes that hit every edge, and on whole
/// converted models across thread counts.
@Suite struct KernelEquivalenceTests {
    static let tables = KernelSelection.availableKernels()

    typealias Generator = SplitMix64

    /// A random convolution with packed weights and a bias that respects the accumulator bound.
    struct Case {
        var parameters: Conv2DParameters
        var input: [Int8], packed: [Int8], unsignedBias: [Int32], signedBias: [Int32], multipliers: [Int32], shifts: [Int32]
        var residual: [Int8]?

        /// `extremeScales`: convolution scales up to 2^20 (left shifts, saturation) and residual
        /// scales up to 2^30, so the epilogues' overflow and clamping paths run; otherwise the
        /// scales of real layers.
        init(_ g: inout Generator, outChannels: Int, extremeScales: Bool = false) {
            let kernel = [1, 3][Int.random(in: 0...1, using: &g)]
            let padding = kernel == 3 ? Int.random(in: 0...1, using: &g) : 0
            let stride = Int.random(in: 1...2, using: &g)
            let inChannels = [1, 3, 4, 5, 16, 17, 33, 70][Int.random(in: 0...7, using: &g)]
            let height = Int.random(in: max(1, kernel - 2 * padding)...11, using: &g)
            let width = Int.random(in: max(1, kernel - 2 * padding)...11, using: &g)
            let outHeight = (height + 2 * padding - kernel) / stride + 1
            let outWidth = (width + 2 * padding - kernel) / stride + 1
            let useResidual = Bool.random(using: &g)
            let residualMultiplier = QuantizedMultiplier(real: extremeScales ? Double.random(in: 0.5...0x1p30, using: &g)
                                                                           : Double.random(in: 0.1...3, using: &g))!
            parameters = Conv2DParameters(
                inChannels: inChannels, inHeight: height, inWidth: width, outChannels: outChannels,
                outHeight: outHeight, outWidth: outWidth, kernelSize: kernel, stride: stride, padding: padding,
                inputZeroPoint: Int32.random(in: -128...127, using: &g), outputZeroPoint: Int32.random(in: -128...127, using: &g),
                relu: Bool.random(using: &g), residualZeroPoint: Int32.random(in: -128...127, using: &g),
                residualMultiplier: useResidual ? residualMultiplier : QuantizedMultiplier(multiplier: 0, rightShift: 0),
                fractionBits: useResidual && Bool.random(using: &g) ? WrenFormat.singleRoundingFractionBits : 0)
            let depth = parameters.depth
            input = (0..<(height * width * inChannels)).map { _ in Int8.random(in: -128...127, using: &g) }
            let weights = (0..<(outChannels * depth)).map { _ in Int8.random(in: -127...127, using: &g) }
            packed = PackedConvWeights.pack(weights, outChannels: outChannels, depth: depth)
            var biases: [Int32] = [], signedBiases: [Int32] = []
            for o in 0..<outChannels {
                let row = weights[(o * depth)..<((o + 1) * depth)]
                let room = Int64(Int32.max) - 255 * row.reduce(Int64(0)) { $0 + Int64($1.magnitude) }
                let bias = Int32(Int64.random(in: -min(room, 1 << 20)...min(room, 1 << 20), using: &g))
                let weightSum = row.reduce(Int32(0)) { $0 &+ Int32($1) }
                biases.append(bias &- (parameters.inputZeroPoint &+ 128) &* weightSum)
                signedBiases.append(bias &- parameters.inputZeroPoint &* weightSum)
            }
            unsignedBias = biases
            signedBias = signedBiases
            let scales = (0..<outChannels).map { _ in
                QuantizedMultiplier(real: extremeScales ? Double.random(in: 0.5...0x1p20, using: &g) : Double.random(in: 1e-4...0.05, using: &g))!
            }
            multipliers = scales.map(\.multiplier)
            shifts = scales.map(\.rightShift)
            residual = useResidual ? (0..<(outHeight * outWidth * outChannels)).map { _ in Int8.random(in: -128...127, using: &g) } : nil
        }

        func run(_ table: KernelTable, tilePixels: Int) -> [Int8] {
            let p = parameters
            let pixels = p.outHeight * p.outWidth
            let paddedDepth = PackedConvWeights.paddedDepth(p.depth)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(table.scratchBytes(paddedDepth), 4 * p.depth), alignment: 64)
            // Buffers the tiles point into, released when the run ends.
            var owned: [UnsafeMutableRawPointer] = [scratch]
            defer { owned.forEach { $0.deallocate() } }
            func buffer<T>(_ values: [T]) -> UnsafeMutablePointer<T> {
                let memory = UnsafeMutablePointer<T>.allocate(capacity: max(values.count, 1))
                memory.initialize(from: values, count: values.count)
                owned.append(UnsafeMutableRawPointer(memory))
                return memory
            }
            // Kernels may skip kernel rows of padding where the model would let them.
            let rowBias = PackedConvWeights.canSkipKernelRows(kernelSize: p.kernelSize, inChannels: p.inChannels, padding: p.padding)
                ? packed.withUnsafeBufferPointer {
                    PackedConvWeights.kernelRowInputBias(
                        rowWeightSums: PackedConvWeights.kernelRowWeightSums(
                            packed: $0.baseAddress!, outChannels: p.outChannels, inChannels: p.inChannels, kernelSize: p.kernelSize),
                        inputZeroPoint: p.inputZeroPoint)
                } : nil
            let output = buffer([Int8](repeating: 0, count: pixels * p.outChannels))
            let scrambledResidual = residual.map { buffer($0) }
            let x = buffer(input), w = buffer(packed), unsigned = buffer(unsignedBias), signed = buffer(signedBias)
            let m = buffer(multipliers), s = buffer(shifts), rows = rowBias.map { UnsafePointer(buffer($0)) }
            var first = 0
            while first < pixels {
                // Other tiles' residual pixels may be overwritten while a tile runs (a fused
                // affine's output can take the residual's bytes): garbage there must not change
                // this tile's results.
                if let residual, let scrambledResidual {
                    let own = (first * p.outChannels)..<(min(first + tilePixels, pixels) * p.outChannels)
                    for i in residual.indices { scrambledResidual[i] = own.contains(i) ? residual[i] : Int8(truncatingIfNeeded: i &* 37 &+ 11) }
                }
                table.conv2d(S8Conv2DTile(
                    parameters: p, paddedDepth: paddedDepth, input: x, weights: w, unsignedInputBias: unsigned,
                    signedInputBias: signed, multipliers: m, shifts: s, residual: scrambledResidual.map { UnsafePointer($0) },
                    output: output, firstPixel: first, pixelCount: min(tilePixels, pixels - first), scratch: scratch,
                    kernelRowBias: rows))
                first += tilePixels
            }
            return Array(UnsafeBufferPointer(start: output, count: pixels * p.outChannels))
        }
    }

    @Test func tablesIncludeTheReference() {
        #expect(Self.tables.contains { $0.name == KernelTable.reference.name })
        print("kernel tables on this machine: \(Self.tables.map(\.name))")
    }

    @Test(arguments: tables.map(\.name))
    func convolutionMatchesTheReference(_ name: String) {
        let table = Self.tables.first { $0.name == name }!
        var g = Generator(seed: 0xC0FFEE)
        for trial in 0..<200 {
            let outChannels = [1, 15, 16, 17, 31, 32, 33, 48, 64, 80][trial % 10]
            let c = Case(&g, outChannels: outChannels, extremeScales: trial >= 150)
            let tile = [1, 7, 8, 9, 16, 64][trial % 6]
            let expected = c.run(.reference, tilePixels: 1 << 20)
            let got = c.run(table, tilePixels: tile)
            #expect(got == expected, "\(name) trial \(trial), tile \(tile): \(c.parameters)")
            if got != expected { return }
        }
    }

    @Test(arguments: tables.map(\.name))
    func channelAffineMatchesTheReference(_ name: String) {
        let table = Self.tables.first { $0.name == name }!
        var g = Generator(seed: 0xAFF1E)
        for trial in 0..<60 {
            let channels = [1, 15, 16, 17, 32, 40, 64][trial % 7]
            let pixels = Int.random(in: 1...20, using: &g)
            let input = (0..<(pixels * channels)).map { _ in Int8.random(in: -128...127, using: &g) }
            let offsets = (0..<channels).map { _ in Int32.random(in: -(1 << 24)...(1 << 24), using: &g) / Int32([1, 1 << 10, 1 << 16][trial % 3]) }
            let reals = (0..<channels).map { _ in Double.random(in: -40...40, using: &g) * [1, 1e-3, 1e6][trial % 3] }
            let multipliers = reals.map { QuantizedMultiplier(real: $0)!.multiplier }
            let shifts = reals.map { QuantizedMultiplier(real: $0)!.rightShift }
            let zx = Int32.random(in: -128...127, using: &g), zo = Int32.random(in: -128...127, using: &g)
            let relu = trial % 2 == 0
            let fractionBits = trial % 4 < 2 ? 0 : WrenFormat.singleRoundingFractionBits
            func run(_ t: KernelTable) -> [Int8] {
                var out = [Int8](repeating: 0, count: input.count)
                input.withUnsafeBufferPointer { x in offsets.withUnsafeBufferPointer { o in multipliers.withUnsafeBufferPointer { m in
                    shifts.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { y in
                        t.channelAffineReLU(S8ChannelAffineTile(
                            pixels: pixels, channels: channels, input: x.baseAddress!, inputZeroPoint: zx, offsets: o.baseAddress!,
                            multipliers: m.baseAddress!, shifts: s.baseAddress!, output: y.baseAddress!, outputZeroPoint: zo, relu: relu,
                            fractionBits: fractionBits))
                    } }
                } } }
                return out
            }
            #expect(run(table) == run(.reference), "\(name) trial \(trial): \(pixels) pixels x \(channels) channels, \(fractionBits) fraction bits")
        }
    }

    /// Whole models: every activation of every layer identical across kernels and thread counts.
    @Test(arguments: ["wrn10_1_c10", "wrn10_2_c3_bias", "wrn22_1_c10"])
    func modelsAreIdenticalAcrossKernelsAndThreads(_ name: String) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let models = root.appendingPathComponent("fixtures/models")
        let checkpoint = try CheckpointLoader.load(path: models.appendingPathComponent("\(name).pth").path)
        let inputArray = try NumpyArray.read(path: models.appendingPathComponent("\(name).input.npy").path)
        let input = try inputArray.floats()
        let batch = inputArray.shape[0]
        let converted = try Converter.convert(checkpoint: checkpoint, calibration: input, count: batch, options: ConversionOptions())
        let model = try WrenModel(bytes: converted.bytes)

        func activations(_ table: KernelTable, threads: Int) throws -> ([Float], [[Int8]]) {
            let pool = ThreadPool(workers: threads)
            let context = try WrenContext(model: model, maxBatch: batch, retainActivations: true, kernels: table, parallelism: pool.parallelism)
            let logits = try context.run(input, batch: batch)
            let tensors = (0..<model.description.tensors.count).map { Array(context.activations(tensor: $0, batch: batch)!) }
            return (logits, tensors)
        }
        let (expectedLogits, expectedTensors) = try activations(.reference, threads: 1)
        for table in Self.tables {
            for threads in [1, 2, 3] {
                // Without retained activations each worker runs whole images in its own slot, and
                // the images left over share every layer; every split gives the same logits.
                let pool = ThreadPool(workers: threads)
                let context = try WrenContext(model: model, maxBatch: batch, kernels: table, parallelism: pool.parallelism)
                #expect(try context.run(input, batch: batch) == expectedLogits, "\(name): \(table.name), \(threads) threads, batch \(batch)")
                let part = max(1, batch - 1)
                #expect(try context.run(Array(input[..<(part * input.count / batch)]), batch: part) == Array(expectedLogits[..<(part * expectedLogits.count / batch)]),
                        "\(name): \(table.name), \(threads) threads, batch \(part)")
                let (logits, tensors) = try activations(table, threads: threads)
                #expect(logits == expectedLogits, "\(name): \(table.name) with \(threads) threads")
                for (index, values) in tensors.enumerated() where values != expectedTensors[index] {
                    Issue.record("\(name): tensor \(model.description.tensors[index].name) differs with \(table.name), \(threads) threads")
                }
            }
        }
    }
}
