import Testing
import WrenTestSupport
import WrenTrain

/// A whole WRN pre-activation block wired from the fast layers the way a network assembler
/// would (BN-ReLU, conv3x3, BN-ReLU, dropout in place, conv3x3 accumulating onto the shortcut),
/// against the same block composed from the Double references; and that composition's input
/// gradient against finite differences, which checks the residual fan-out recipe itself.
@Suite struct LayerBlockTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let inChannels, outChannels, stride, size, batch, maxBatch: Int
        let dropout: Double
        var hasShortcut: Bool { inChannels != outChannels || stride != 1 }
        var testDescription: String {
            "\(inChannels)→\(outChannels) stride \(stride) \(size)x\(size) batch \(batch)/\(maxBatch) dropout \(dropout)"
        }
    }

    static let cases: [Case] = [
        Case(inChannels: 8, outChannels: 8, stride: 1, size: 6, batch: 2, maxBatch: 3, dropout: 0.3),   // identity shortcut
        Case(inChannels: 4, outChannels: 8, stride: 2, size: 7, batch: 3, maxBatch: 3, dropout: 0),     // 1x1 stride-2 shortcut
        Case(inChannels: 3, outChannels: 5, stride: 1, size: 5, batch: 1, maxBatch: 2, dropout: 0.5),   // widening, batch 1
    ]

    /// Parameters and data, in Double (Float-exact), shared by both implementations.
    struct Values {
        var x, dOut, gamma1, beta1, w1, b1, gamma2, beta2, w2: [Double]
        var shortcutWeight: [Double]?
        var mask: [Double]
    }

    struct Geometries {
        let conv1, conv2: ConvolutionGeometry
        let shortcut: ConvolutionGeometry?
        init(_ t: Case) throws {
            conv1 = try ConvolutionGeometry(inChannels: t.inChannels, outChannels: t.outChannels, kernelSize: 3, stride: t.stride,
                                            padding: 1, hasBias: true, inputHeight: t.size, inputWidth: t.size)
            conv2 = try ConvolutionGeometry(inChannels: t.outChannels, outChannels: t.outChannels, kernelSize: 3, stride: 1, padding: 1,
                                            inputHeight: conv1.outputHeight, inputWidth: conv1.outputWidth)
            shortcut = t.hasShortcut
                ? try ConvolutionGeometry(inChannels: t.inChannels, outChannels: t.outChannels, kernelSize: 1, stride: t.stride,
                                          inputHeight: t.size, inputWidth: t.size)
                : nil
        }
    }

    /// The block from the Double references: output, and gradients for x and every parameter.
    static func referenceBlock(_ t: Case, _ g: Geometries, _ v: Values)
        -> (output: [Double], dx: [Double], grads: [String: [Double]]) {
        let inShape = g.conv1.inputShape(batch: t.batch), midShape = g.conv1.outputShape(batch: t.batch)
        let zeros = { (n: Int) in [Double](repeating: 0, count: n) }
        let bn1 = BatchNormReLUReference.forwardTraining(input: v.x, shape: inShape, gamma: v.gamma1, beta: v.beta1,
                                                         runningMean: zeros(t.inChannels), runningVariance: zeros(t.inChannels))
        let a = bn1.output
        let y1 = ConvolutionReference.forward(g.conv1, batch: t.batch, input: a, weight: v.w1, bias: v.b1)
        let b = BatchNormReLUReference.forwardTraining(input: y1, shape: midShape, gamma: v.gamma2, beta: v.beta2,
                                                       runningMean: zeros(t.outChannels), runningVariance: zeros(t.outChannels)).output
        let c = DropoutReference.forward(input: b, mask: v.mask)
        let z = ConvolutionReference.forward(g.conv2, batch: t.batch, input: c, weight: v.w2, bias: nil)
        let shortcut = g.shortcut.map { ConvolutionReference.forward($0, batch: t.batch, input: a, weight: v.shortcutWeight!, bias: nil) } ?? v.x
        let output = zip(z, shortcut).map(+)

        var grads: [String: [Double]] = [:]
        let conv2 = ConvolutionReference.backward(g.conv2, batch: t.batch, input: c, weight: v.w2, outputGradient: v.dOut)
        grads["conv2.weight"] = conv2.weight
        let dB = DropoutReference.backward(outputGradient: conv2.input, mask: v.mask)
        let bn2 = BatchNormReLUReference.backward(input: y1, shape: midShape, gamma: v.gamma2, beta: v.beta2, outputGradient: dB)
        (grads["bn2.weight"], grads["bn2.bias"]) = (bn2.gamma, bn2.beta)
        let conv1 = ConvolutionReference.backward(g.conv1, batch: t.batch, input: a, weight: v.w1, outputGradient: bn2.input)
        (grads["conv1.weight"], grads["conv1.bias"]) = (conv1.weight, conv1.bias)
        var dA = conv1.input
        if let sg = g.shortcut {
            let sc = ConvolutionReference.backward(sg, batch: t.batch, input: a, weight: v.shortcutWeight!, outputGradient: v.dOut)
            grads["shortcut.weight"] = sc.weight
            dA = zip(dA, sc.input).map(+)
        }
        let bn1Back = BatchNormReLUReference.backward(input: v.x, shape: inShape, gamma: v.gamma1, beta: v.beta1, outputGradient: dA)
        (grads["bn1.weight"], grads["bn1.bias"]) = (bn1Back.gamma, bn1Back.beta)
        let dx = g.shortcut == nil ? zip(bn1Back.input, v.dOut).map(+) : bn1Back.input
        return (output, dx, grads)
    }

    /// The layers of one block and the buffers a network would allocate once for it.
    final class FastBlock {
        let bn1, bn2: BatchNormReLULayer
        let conv1, conv2: ConvolutionLayer
        let shortcut: ConvolutionLayer?
        let dropout: DropoutLayer
        let a, y1, b, output, dOutput, dB, dY1, dA, dX, scratch: TrainingBuffer

        init(_ t: Case, _ g: Geometries, seed: UInt64, team: ThreadTeam) throws {
            let mid = g.conv1.outputShape(batch: t.maxBatch), input = g.conv1.inputShape(batch: t.maxBatch)
            bn1 = try BatchNormReLULayer(channels: t.inChannels, height: t.size, width: t.size, maxBatch: t.maxBatch, team: team)
            conv1 = try ConvolutionLayer(g.conv1, maxBatch: t.maxBatch, team: team)
            bn2 = try BatchNormReLULayer(channels: t.outChannels, height: mid.height, width: mid.width, maxBatch: t.maxBatch, team: team)
            dropout = try DropoutLayer(probability: t.dropout, maxCount: mid.count, seed: seed, team: team)
            conv2 = try ConvolutionLayer(g.conv2, maxBatch: t.maxBatch, team: team)
            shortcut = try g.shortcut.map { try ConvolutionLayer($0, maxBatch: t.maxBatch, team: team) }
            (a, dA, dX) = (TrainingBuffer(count: input.count), TrainingBuffer(count: input.count), TrainingBuffer(count: input.count))
            (y1, b, dB, dY1) = (TrainingBuffer(count: mid.count), TrainingBuffer(count: mid.count),
                                TrainingBuffer(count: mid.count), TrainingBuffer(count: mid.count))
            (output, dOutput) = (TrainingBuffer(count: mid.count), TrainingBuffer(count: mid.count))
            // One scratch for every convolution of the block: each uses it only during its call.
            scratch = TrainingBuffer(count: [conv1.scratchCount, conv2.scratchCount, shortcut?.scratchCount ?? 0].max()!)
        }

        func forward(_ x: UnsafeBufferPointer<Float>, batch: Int) {
            let count = conv1.geometry.outputShape(batch: batch).count
            bn1.forwardTraining(input: x, batch: batch, output: a.values)
            conv1.forward(input: a.prefix(a.count), batch: batch, output: y1.values, scratch: scratch.values)
            bn2.forwardTraining(input: y1.prefix(y1.count), batch: batch, output: b.values)
            dropout.forwardTraining(b.values, count: count)
            if let shortcut {
                shortcut.forward(input: a.prefix(a.count), batch: batch, output: output.values, scratch: scratch.values)
            } else {
                Residual.copy(x, into: output.values, count: count)
            }
            conv2.forward(input: b.prefix(b.count), batch: batch, output: output.values, accumulating: true, scratch: scratch.values)
        }

        func backward(_ x: UnsafeBufferPointer<Float>, batch: Int) {
            let count = conv1.geometry.outputShape(batch: batch).count
            let inCount = conv1.geometry.inputShape(batch: batch).count
            let dOut = dOutput.prefix(count)
            conv2.backward(input: b.prefix(b.count), outputGradient: dOut, batch: batch, inputGradient: dB.values, scratch: scratch.values)
            dropout.backward(dB.values, count: count)
            bn2.backward(input: y1.prefix(y1.count), outputGradient: dB.prefix(dB.count), batch: batch, inputGradient: dY1.values)
            conv1.backward(input: a.prefix(a.count), outputGradient: dY1.prefix(dY1.count), batch: batch, inputGradient: dA.values,
                           scratch: scratch.values)
            if let shortcut {
                shortcut.backward(input: a.prefix(a.count), outputGradient: dOut, batch: batch, inputGradient: dA.values,
                                  accumulatingInputGradient: true, scratch: scratch.values)
                bn1.backward(input: x, outputGradient: dA.prefix(dA.count), batch: batch, inputGradient: dX.values)
            } else {
                // The identity path's gradient first, then bn1 adds the branch's.
                Residual.copy(dOut, into: dX.values, count: inCount)
                bn1.backward(input: x, outputGradient: dA.prefix(dA.count), batch: batch, inputGradient: dX.values, accumulating: true)
            }
        }
    }

    @Test(arguments: cases, [1, 2])
    func fastBlockMatchesReferenceBlock(_ t: Case, threads: Int) throws {
        let g = try Geometries(t)
        let team = try ThreadTeam(count: threads)
        let block = try FastBlock(t, g, seed: 40, team: team)
        var random = SplitMix64(seed: 41)
        let inCount = g.conv1.inputShape(batch: t.batch).count, outCount = g.conv1.outputShape(batch: t.batch).count
        var v = Values(x: random.floatExact(inCount, in: -1...2), dOut: random.floatExact(outCount),
                       gamma1: random.floatExact(t.inChannels, in: 0.5...1.5), beta1: random.floatExact(t.inChannels, in: -0.2...0.2),
                       w1: random.floatExact(g.conv1.weightCount, in: -0.3...0.3), b1: random.floatExact(t.outChannels),
                       gamma2: random.floatExact(t.outChannels, in: 0.5...1.5), beta2: random.floatExact(t.outChannels, in: -0.2...0.2),
                       w2: random.floatExact(g.conv2.weightCount, in: -0.3...0.3),
                       shortcutWeight: g.shortcut.map { random.floatExact($0.weightCount) }, mask: [])
        block.bn1.weight.assign(v.gamma1.floats)
        block.bn1.bias.assign(v.beta1.floats)
        block.conv1.weight.assign(v.w1.floats)
        block.conv1.bias!.assign(v.b1.floats)
        block.bn2.weight.assign(v.gamma2.floats)
        block.bn2.bias.assign(v.beta2.floats)
        block.conv2.weight.assign(v.w2.floats)
        if let w = v.shortcutWeight { block.shortcut!.weight.assign(w.floats) }

        let x = TrainingBuffer(v.x.floats)
        block.dOutput.assign(v.dOut.floats + [Float](repeating: .nan, count: block.dOutput.count - outCount))
        block.forward(x.prefix(inCount), batch: t.batch)
        block.backward(x.prefix(inCount), batch: t.batch)
        // The reference uses the mask the fast layer drew (none at p = 0).
        v.mask = t.dropout > 0 ? block.dropout.mask.map(Double.init) : [Double](repeating: 1, count: outCount)
        let expected = Self.referenceBlock(t, g, v)

        // Five layers of Float rounding through two batch norms' backward passes come to a few
        // 1e-7 of each tensor's range here; the single-layer tolerance still holds.
        let tolerance = floatTolerance
        let what = "block \(t.testDescription), \(threads) threads"
        expectClose(Array(block.output.prefix(outCount)), expected.output, tolerance: tolerance, "\(what): output")
        expectClose(Array(block.dX.prefix(inCount)), expected.dx, tolerance: tolerance, "\(what): dx")
        var fastGradients: [String: [Float]] = [
            "conv2.weight": block.conv2.weightGradient.array, "bn2.weight": block.bn2.weightGradient.array,
            "bn2.bias": block.bn2.biasGradient.array, "conv1.weight": block.conv1.weightGradient.array,
            "conv1.bias": block.conv1.biasGradient!.array, "bn1.weight": block.bn1.weightGradient.array,
            "bn1.bias": block.bn1.biasGradient.array,
        ]
        if let shortcut = block.shortcut { fastGradients["shortcut.weight"] = shortcut.weightGradient.array }
        #expect(Set(fastGradients.keys) == Set(expected.grads.keys))
        for (name, gradient) in fastGradients.sorted(by: { $0.key < $1.key }) where name != "conv1.bias" {
            expectClose(gradient, expected.grads[name]!, tolerance: tolerance, "\(what): d\(name)")
        }
        // A conv bias feeding a train-mode BN has an exactly zero gradient; in Float it is
        // rounding noise, small against the weight gradient's scale.
        #expect(expected.grads["conv1.bias"]!.allSatisfy { abs($0) < 1e-12 })
        let noise = fastGradients["conv1.bias"]!.map { abs(Double($0)) }.max()!
        let scale = expected.grads["conv1.weight"]!.map(abs).max()!
        #expect(noise <= 1e-5 * scale, "\(what): dconv1.bias is \(noise), expected rounding noise")
    }

    @Test(arguments: [cases[0], cases[1]])
    func referenceBlockInputGradientMatchesFiniteDifferences(_ t: Case) throws {
        let small = Case(inChannels: t.inChannels / 2, outChannels: t.outChannels / 2, stride: t.stride, size: 4, batch: 2,
                         maxBatch: 2, dropout: t.dropout)
        let g = try Geometries(small)
        var random = SplitMix64(seed: 42)
        let inCount = g.conv1.inputShape(batch: 2).count, outCount = g.conv1.outputShape(batch: 2).count
        let v = Values(x: random.floatExact(inCount, in: -1...2), dOut: random.floatExact(outCount),
                       gamma1: random.floatExact(small.inChannels, in: 0.5...1.5), beta1: random.floatExact(small.inChannels, in: -0.2...0.2),
                       w1: random.floatExact(g.conv1.weightCount), b1: random.floatExact(small.outChannels),
                       gamma2: random.floatExact(small.outChannels, in: 0.5...1.5), beta2: random.floatExact(small.outChannels, in: -0.2...0.2),
                       w2: random.floatExact(g.conv2.weightCount), shortcutWeight: g.shortcut.map { random.floatExact($0.weightCount) },
                       mask: (0..<outCount).map { _ in Double.random(in: 0..<1, using: &random) < small.dropout ? 0 : 1 / (1 - small.dropout) })
        let analytic = Self.referenceBlock(small, g, v).dx
        let numeric = numericGradient(of: { x in
            var probe = v
            probe.x = x
            return dot(Self.referenceBlock(small, g, probe).output, v.dOut)
        }, at: v.x)
        expectClose(analytic, numeric, tolerance: 1e-6, "reference block \(small.testDescription): dx")
    }
}
