import Foundation
import Testing
import WrenTestSupport
import WrenTrain

/// The im2col/GEMM convolution against the direct Double reference: outputs, accumulated outputs,
/// every gradient, batches smaller than the one the layer was sized for, and scratch and outputs
/// pre-filled with NaN so that any value the layer forgets to write shows up; with teams of 1, 2
/// and 3 threads (3 leaves members without chunks at small batches).
@Suite struct LayerConvolutionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let c, o, k, s, p: Int
        let bias: Bool
        let h, w: Int
        let batch, maxBatch: Int
        /// Images per GEMM; nil for the layer's default (one chunk at these sizes).
        var chunk: Int? = nil
        var testDescription: String {
            "\(c)→\(o) k\(k) s\(s) p\(p)\(bias ? " bias" : "") \(h)x\(w) batch \(batch)/\(maxBatch) chunk \(chunk.map(String.init) ?? "default")"
        }
    }

    static let cases: [Case] = [
        Case(c: 3, o: 16, k: 3, s: 1, p: 1, bias: true, h: 8, w: 8, batch: 2, maxBatch: 3),    // stem
        Case(c: 16, o: 32, k: 3, s: 2, p: 1, bias: false, h: 8, w: 8, batch: 3, maxBatch: 3),  // down-sampling conv1
        Case(c: 16, o: 32, k: 1, s: 2, p: 0, bias: true, h: 8, w: 8, batch: 3, maxBatch: 4),   // its shortcut
        Case(c: 8, o: 8, k: 1, s: 1, p: 0, bias: true, h: 5, w: 7, batch: 2, maxBatch: 2),     // input read as columns
        Case(c: 5, o: 7, k: 3, s: 1, p: 1, bias: false, h: 7, w: 5, batch: 1, maxBatch: 2),    // odd sizes, batch 1
        Case(c: 3, o: 4, k: 3, s: 1, p: 0, bias: true, h: 6, w: 6, batch: 2, maxBatch: 2),     // unpadded: general path
        Case(c: 2, o: 3, k: 3, s: 2, p: 0, bias: false, h: 7, w: 7, batch: 2, maxBatch: 2),
        Case(c: 3, o: 2, k: 3, s: 1, p: 1, bias: true, h: 2, w: 2, batch: 2, maxBatch: 2),     // rows narrower than the kernel
        Case(c: 4, o: 3, k: 3, s: 1, p: 1, bias: false, h: 1, w: 1, batch: 3, maxBatch: 3),    // every tap but the centre is padding
        Case(c: 64, o: 16, k: 3, s: 1, p: 1, bias: false, h: 4, w: 4, batch: 2, maxBatch: 2),  // K = 576
        Case(c: 2, o: 3, k: 3, s: 2, p: 1, bias: true, h: 5, w: 6, batch: 1, maxBatch: 1),     // odd size, stride 2
        // Several chunks: the last one shorter, dWeight summed over chunks, and each chunk's flat
        // shift reaching across image boundaries only at taps on padding.
        Case(c: 3, o: 16, k: 3, s: 1, p: 1, bias: true, h: 8, w: 8, batch: 3, maxBatch: 4, chunk: 2),
        Case(c: 5, o: 7, k: 3, s: 1, p: 1, bias: false, h: 7, w: 5, batch: 4, maxBatch: 4, chunk: 1),
        Case(c: 16, o: 32, k: 3, s: 2, p: 1, bias: true, h: 8, w: 8, batch: 3, maxBatch: 3, chunk: 2),
        Case(c: 16, o: 32, k: 1, s: 2, p: 0, bias: false, h: 8, w: 8, batch: 5, maxBatch: 5, chunk: 2),
        Case(c: 4, o: 3, k: 3, s: 1, p: 1, bias: false, h: 1, w: 1, batch: 3, maxBatch: 3, chunk: 2),
        Case(c: 3, o: 2, k: 5, s: 1, p: 2, bias: true, h: 6, w: 4, batch: 3, maxBatch: 3, chunk: 2),   // 5x5 "same"
        // Stride 2 over rows wide enough for the vector gathers (16 and 8 taps per row), with the
        // windows at both ends of the row.
        Case(c: 2, o: 3, k: 3, s: 2, p: 1, bias: true, h: 4, w: 32, batch: 2, maxBatch: 2),
        Case(c: 2, o: 3, k: 3, s: 2, p: 1, bias: false, h: 3, w: 33, batch: 2, maxBatch: 2),
        Case(c: 3, o: 2, k: 3, s: 2, p: 1, bias: false, h: 5, w: 16, batch: 2, maxBatch: 2),
        Case(c: 2, o: 2, k: 3, s: 2, p: 0, bias: true, h: 3, w: 35, batch: 1, maxBatch: 1),
        Case(c: 3, o: 4, k: 1, s: 2, p: 0, bias: false, h: 2, w: 34, batch: 2, maxBatch: 2),
        Case(c: 2, o: 2, k: 3, s: 2, p: 1, bias: true, h: 3, w: 50, batch: 1, maxBatch: 1),   // 25 taps: 16 + 8 + 1
    ] + directCases

    /// Shapes the direct 3x3 kernel runs on AVX-512 CPUs (forward and, with a multiple of 8 input
    /// channels, input gradient): a WRN's three resolutions, a tile of 3 vectors crossing image
    /// boundaries (4x4 is one vector per image), partial tiles and blocks (odd vector counts), widths
    /// that are not a multiple of 16 (masks inside rows), and batches smaller than the layer's.
    static let directCases: [Case] = [
        Case(c: 16, o: 16, k: 3, s: 1, p: 1, bias: true, h: 32, w: 32, batch: 2, maxBatch: 3),
        Case(c: 32, o: 32, k: 3, s: 1, p: 1, bias: false, h: 16, w: 16, batch: 3, maxBatch: 3),
        Case(c: 64, o: 64, k: 3, s: 1, p: 1, bias: true, h: 8, w: 8, batch: 5, maxBatch: 6),
        Case(c: 8, o: 24, k: 3, s: 1, p: 1, bias: false, h: 4, w: 4, batch: 7, maxBatch: 7),
        Case(c: 24, o: 8, k: 3, s: 1, p: 1, bias: true, h: 2, w: 8, batch: 5, maxBatch: 5),
        Case(c: 8, o: 8, k: 3, s: 1, p: 1, bias: false, h: 12, w: 20, batch: 2, maxBatch: 2),
        Case(c: 3, o: 16, k: 3, s: 1, p: 1, bias: true, h: 32, w: 32, batch: 3, maxBatch: 4),  // the stem: forward only
        Case(c: 96, o: 8, k: 3, s: 1, p: 1, bias: false, h: 8, w: 8, batch: 4, maxBatch: 4),   // smaller position blocks
    ]

    struct Setup {
        let g: ConvolutionGeometry
        let layer: ConvolutionLayer
        let input, weight, dy: [Double]
        let bias: [Double]?
        let scratch: TrainingBuffer
    }

    static func setup(_ t: Case, seed: UInt64, team: ThreadTeam = .single) throws -> Setup {
        let g = try ConvolutionGeometry(inChannels: t.c, outChannels: t.o, kernelSize: t.k, stride: t.s, padding: t.p,
                                        hasBias: t.bias, inputHeight: t.h, inputWidth: t.w)
        let layer = try ConvolutionLayer(g, maxBatch: t.maxBatch, imagesPerChunk: t.chunk, team: team)
        var random = SplitMix64(seed: seed)
        let input = random.floatExact(g.inputShape(batch: t.batch).count, in: -2...2)
        let weight = random.floatExact(g.weightCount)
        let bias = t.bias ? random.floatExact(t.o) : nil
        let dy = random.floatExact(g.outputShape(batch: t.batch).count)
        layer.weight.assign(weight.floats)
        if let bias { layer.bias?.assign(bias.floats) }
        let scratch = TrainingBuffer([Float](repeating: .nan, count: layer.scratchCount))
        return Setup(g: g, layer: layer, input: input, weight: weight, dy: dy, bias: bias, scratch: scratch)
    }

    @Test(arguments: cases, [1, 2, 3])
    func forwardMatchesReference(_ t: Case, threads: Int) throws {
        let team = try ThreadTeam(count: threads)
        let s = try Self.setup(t, seed: 1, team: team)
        let input = TrainingBuffer(s.input.floats)
        let outCount = s.g.outputShape(batch: t.batch).count
        let output = TrainingBuffer([Float](repeating: .nan, count: s.g.outputShape(batch: t.maxBatch).count))
        s.layer.forward(input: input.prefix(input.count), batch: t.batch, output: output.values, scratch: s.scratch.values)
        let expected = ConvolutionReference.forward(s.g, batch: t.batch, input: s.input, weight: s.weight, bias: s.bias)
        expectClose(Array(output.prefix(outCount)), expected, tolerance: floatTolerance, "\(s.g) batch \(t.batch) threads \(threads): output")

        // Accumulating adds onto what the output held: the residual sum.
        var random = SplitMix64(seed: 2)
        let base = random.floatExact(outCount)
        output.assign(base.floats + Array(output.array[outCount...]))
        s.layer.forward(input: input.prefix(input.count), batch: t.batch, output: output.values, accumulating: true, scratch: s.scratch.values)
        expectClose(Array(output.prefix(outCount)), zip(base, expected).map(+), tolerance: floatTolerance,
                    "\(s.g) batch \(t.batch) threads \(threads): accumulated output")
    }

    @Test(arguments: cases, [1, 2, 3])
    func backwardMatchesReference(_ t: Case, threads: Int) throws {
        let team = try ThreadTeam(count: threads)
        let s = try Self.setup(t, seed: 3, team: team)
        let input = TrainingBuffer(s.input.floats), dy = TrainingBuffer(s.dy.floats)
        let inCount = s.input.count
        let dInput = TrainingBuffer([Float](repeating: .nan, count: s.g.inputShape(batch: t.maxBatch).count))
        s.layer.backward(input: input.prefix(inCount), outputGradient: dy.prefix(dy.count), batch: t.batch,
                         inputGradient: dInput.values, scratch: s.scratch.values)
        let expected = ConvolutionReference.backward(s.g, batch: t.batch, input: s.input, weight: s.weight, outputGradient: s.dy)
        let what = "\(s.g) batch \(t.batch) chunk \(s.layer.imagesPerChunk) threads \(threads)"
        expectClose(Array(dInput.prefix(inCount)), expected.input, tolerance: floatTolerance, "\(what): dInput")
        expectClose(s.layer.weightGradient.array, expected.weight, tolerance: floatTolerance, "\(what): dWeight")
        if let dBias = expected.bias {
            expectClose(try #require(s.layer.biasGradient).array, dBias, tolerance: floatTolerance, "\(what): dBias")
        }

        // Accumulating into the input gradient (a residual fan-in); without one, the weight
        // gradients are still written, overwriting the previous call's.
        var random = SplitMix64(seed: 4)
        let base = random.floatExact(inCount)
        dInput.assign(base.floats + Array(dInput.array[inCount...]))
        s.layer.backward(input: input.prefix(inCount), outputGradient: dy.prefix(dy.count), batch: t.batch,
                         inputGradient: dInput.values, accumulatingInputGradient: true, scratch: s.scratch.values)
        expectClose(Array(dInput.prefix(inCount)), zip(base, expected.input).map(+), tolerance: floatTolerance, "\(what): accumulated dInput")
        s.layer.weightGradient.assign([Float](repeating: .nan, count: s.g.weightCount))
        s.layer.backward(input: input.prefix(inCount), outputGradient: dy.prefix(dy.count), batch: t.batch,
                         inputGradient: nil, scratch: s.scratch.values)
        expectClose(s.layer.weightGradient.array, expected.weight, tolerance: floatTolerance, "\(what): dWeight without dInput")
    }

    @Test(arguments: [cases[0], cases[1], cases[3], cases[11]], [1, 2])
    func runsAreBitIdentical(_ t: Case, threads: Int) throws {
        let team = try ThreadTeam(count: threads)
        let s = try Self.setup(t, seed: 5, team: team)
        let input = TrainingBuffer(s.input.floats), dy = TrainingBuffer(s.dy.floats)
        func run() -> [[Float]] {
            let output = TrainingBuffer(count: s.g.outputShape(batch: t.batch).count)
            let dInput = TrainingBuffer(count: s.input.count)
            s.layer.forward(input: input.prefix(input.count), batch: t.batch, output: output.values, scratch: s.scratch.values)
            s.layer.backward(input: input.prefix(input.count), outputGradient: dy.prefix(dy.count), batch: t.batch,
                             inputGradient: dInput.values, scratch: s.scratch.values)
            return [output.array, dInput.array, s.layer.weightGradient.array, s.layer.biasGradient?.array ?? []]
        }
        let first = run()
        #expect(first[0].allSatisfy { $0.isFinite })
        #expect(run() == first, "\(s.g) batch \(t.batch) threads \(threads): a second run differs")
    }

    /// On a CPU with the direct kernel, the shapes above take it (so the reference tests above check
    /// it), shapes it does not fit keep im2col + GEMM, and `allowsDirectKernel: false` opts out.
    @Test func directKernelIsChosenWhereItApplies() throws {
        for t in Self.directCases {
            let s = try Self.setup(t, seed: 6)
            #expect(s.layer.usesDirectKernel == ConvolutionLayer.cpuHasDirectKernel, "\(s.g)")
            #expect(try !ConvolutionLayer(s.g, maxBatch: t.maxBatch, allowsDirectKernel: false).usesDirectKernel)
        }
        for t in [Self.cases[1], Self.cases[2], Self.cases[4], Self.cases[5], Self.cases[7]] {
            #expect(try !Self.setup(t, seed: 6).layer.usesDirectKernel, "\(t.testDescription)")
        }
        // The CPU detection agrees with the kernel's flags as Linux reports them.
        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8), let flags = cpuinfo
            .split(separator: "\n").first(where: { $0.hasPrefix("flags") })?.split(separator: " ") {
            let needed = ["avx512f", "avx512bw", "avx512cd", "avx512vl", "avx512dq", "avx512_vnni"]
            #expect(ConvolutionLayer.cpuHasDirectKernel == needed.allSatisfy { flags.contains(Substring($0)) })
        }
    }

    /// The direct kernel and im2col + GEMM agree to float32 rounding on a whole WRN-sized layer.
    @Test func directKernelAgreesWithGEMM() throws {
        let t = Case(c: 32, o: 32, k: 3, s: 1, p: 1, bias: true, h: 16, w: 16, batch: 4, maxBatch: 4)
        let team = try ThreadTeam(count: 2)
        let s = try Self.setup(t, seed: 7, team: team)
        let gemm = try ConvolutionLayer(s.g, maxBatch: t.maxBatch, team: team, allowsDirectKernel: false)
        gemm.weight.assign(s.weight.floats)
        gemm.bias?.assign(s.bias!.floats)
        let input = TrainingBuffer(s.input.floats), dy = TrainingBuffer(s.dy.floats)
        let scratch = TrainingBuffer(count: max(s.layer.scratchCount, gemm.scratchCount))
        func run(_ layer: ConvolutionLayer) -> (output: [Float], dInput: [Float]) {
            let output = TrainingBuffer(count: s.g.outputShape(batch: t.batch).count), dInput = TrainingBuffer(count: input.count)
            layer.forward(input: input.prefix(input.count), batch: t.batch, output: output.values, scratch: scratch.values)
            layer.backward(input: input.prefix(input.count), outputGradient: dy.prefix(dy.count), batch: t.batch,
                           inputGradient: dInput.values, scratch: scratch.values)
            return (output.array, dInput.array)
        }
        let direct = run(s.layer), reference = run(gemm)
        expectClose(direct.output.map(Double.init), reference.output.map(Double.init), tolerance: floatTolerance, "output")
        expectClose(direct.dInput.map(Double.init), reference.dInput.map(Double.init), tolerance: floatTolerance, "dInput")
        expectClose(s.layer.weightGradient.array.map(Double.init), gemm.weightGradient.array.map(Double.init),
                    tolerance: floatTolerance, "dWeight")
    }

    /// The direct kernel's weight gradient is split by channels, not summed from per-member
    /// partials, so 1, 2 and 3 threads give bit-identical gradients (as do forward and dInput,
    /// split by images). The batch spans two weight-gradient chunks, whose sum is checked against
    /// the GEMM path.
    @Test func directGradientsAreBitIdenticalAcrossTeams() throws {
        let t = Case(c: 16, o: 32, k: 3, s: 1, p: 1, bias: true, h: 32, w: 32, batch: 70, maxBatch: 70)
        var results: [[[Float]]] = []
        for (threads, direct) in [(1, true), (2, true), (3, true), (2, false)] {
            var s = try Self.setup(t, seed: 8, team: try ThreadTeam(count: threads))
            if !direct {
                let layer = try ConvolutionLayer(s.g, maxBatch: t.maxBatch, team: s.layer.team, allowsDirectKernel: false)
                layer.weight.assign(s.weight.floats)
                layer.bias?.assign(s.bias!.floats)
                s = Setup(g: s.g, layer: layer, input: s.input, weight: s.weight, dy: s.dy, bias: s.bias,
                          scratch: TrainingBuffer(count: layer.scratchCount))
            }
            let input = TrainingBuffer(s.input.floats), dy = TrainingBuffer(s.dy.floats)
            let output = TrainingBuffer(count: s.g.outputShape(batch: t.batch).count), dInput = TrainingBuffer(count: input.count)
            s.layer.forward(input: input.prefix(input.count), batch: t.batch, output: output.values, scratch: s.scratch.values)
            s.layer.backward(input: input.prefix(input.count), outputGradient: dy.prefix(dy.count), batch: t.batch,
                             inputGradient: dInput.values, scratch: s.scratch.values)
            results.append([output.array, dInput.array, s.layer.weightGradient.array])
        }
        for (name, index) in [("output", 0), ("dInput", 1), ("dWeight", 2)] {
            expectClose(results[0][index].map(Double.init), results[3][index].map(Double.init), tolerance: floatTolerance,
                        "direct and GEMM \(name)")
        }
        guard ConvolutionLayer.cpuHasDirectKernel else { return }
        #expect(results[1] == results[0] && results[2] == results[0])
    }

    @Test func invalidGeometriesAreRejected() {
        #expect(throws: TrainingError.self) { try ConvolutionGeometry(inChannels: 3, outChannels: 4, kernelSize: 3, inputHeight: 2, inputWidth: 5) }
        #expect(throws: TrainingError.self) { try ConvolutionGeometry(inChannels: 3, outChannels: 4, kernelSize: 3, stride: 0, inputHeight: 8, inputWidth: 8) }
        #expect(throws: TrainingError.self) { try ConvolutionGeometry(inChannels: 0, outChannels: 4, kernelSize: 1, inputHeight: 8, inputWidth: 8) }
        #expect(throws: TrainingError.self) {
            try ConvolutionLayer(ConvolutionGeometry(inChannels: 3, outChannels: 4, kernelSize: 3, padding: 1, inputHeight: 8, inputWidth: 8), maxBatch: 0)
        }
    }

    @Test func geometryFollowsPyTorchsFloorRule() throws {
        let g = try ConvolutionGeometry(inChannels: 16, outChannels: 32, kernelSize: 3, stride: 2, padding: 1, inputHeight: 7, inputWidth: 8)
        #expect(g.outputHeight == 4 && g.outputWidth == 4)
        #expect(g.scratchCount(batch: 5) == 16 * 9 * 5 * 16)
        let shortcut = try ConvolutionGeometry(inChannels: 16, outChannels: 32, kernelSize: 1, inputHeight: 8, inputWidth: 8)
        #expect(shortcut.readsInputAsColumns && shortcut.scratchCount(batch: 64) == 0)
        // The default chunk holds as many images' columns as fit in `defaultChunkBytes`.
        let wideGeometry = try ConvolutionGeometry(inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1, inputHeight: 32, inputWidth: 32)
        let wide = try ConvolutionLayer(wideGeometry, maxBatch: 64, allowsDirectKernel: false)
        #expect(wide.imagesPerChunk == ConvolutionLayer.defaultChunkBytes / (576 * 1024 * 4))
        #expect(wide.scratchCount == 576 * 1024 * wide.imagesPerChunk)
        // One chunk's columns per team member.
        let team = try ThreadTeam(count: 2)
        let shared = try ConvolutionLayer(wideGeometry, maxBatch: 64, team: team, allowsDirectKernel: false)
        #expect(shared.scratchCount == 2 * wide.scratchCount)
        // The direct weight gradient's chunk: as many images' padded input and output gradient as
        // fit in 2²¹ floats, whatever the team.
        if ConvolutionLayer.cpuHasDirectKernel {
            let imageFloats = 64 * 34 * 34 + 64 * 1024
            for team in [ThreadTeam.single, team] {
                #expect(try ConvolutionLayer(wideGeometry, maxBatch: 64, team: team).scratchCount == (2 << 20) / imageFloats * imageFloats)
            }
        }
    }

    @Test func layoutTransposesRoundTrip() {
        let shape = CNHWShape(channels: 3, batch: 2, height: 2, width: 3)
        let nchw = (0..<shape.count).map(Float.init)
        let cnhw = TrainingBuffer(count: shape.count), back = TrainingBuffer(count: shape.count)
        nchw.withUnsafeBufferPointer { transposeNCHWToCNHW($0, shape: shape, into: cnhw.values) }
        // NCHW (image 1, channel 2, y 1, x 0) is flat 1·18 + 2·6 + 3 = 33.
        #expect(cnhw.values[shape.index(channel: 2, image: 1, y: 1, x: 0)] == 33)
        transposeCNHWToNCHW(cnhw.prefix(shape.count), shape: shape, into: back.values)
        #expect(back.array == nchw)
    }
}
