import Testing
import WrenTestSupport
import WrenTrain

/// The fused Float batch norm + ReLU against the Double reference: training output, running
/// statistics over two steps, every gradient, evaluation with the running statistics.
@Suite struct LayerBatchNormTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let channels, batch, maxBatch, height, width: Int
        /// Added to every input: a large common mode tests the statistics for cancellation.
        let offset: Double
        var testDescription: String { "C \(channels) N \(batch)/\(maxBatch) \(height)x\(width) offset \(offset)" }
    }

    static let cases: [Case] = [
        Case(channels: 3, batch: 2, maxBatch: 4, height: 5, width: 5, offset: 0),      // 50 per channel: a vector tail
        Case(channels: 16, batch: 8, maxBatch: 8, height: 8, width: 8, offset: 0.5),   // 512, whole vectors
        Case(channels: 2, batch: 3, maxBatch: 3, height: 1, width: 1, offset: 0),      // 3 per channel, all tail
        Case(channels: 4, batch: 1, maxBatch: 2, height: 7, width: 3, offset: 300),    // mean ≫ deviation
    ]

    struct Setup {
        let layer: BatchNormReLULayer
        let shape: CNHWShape
        let input, gamma, beta, dy: [Double]
    }

    static func setup(_ t: Case, seed: UInt64) throws -> Setup {
        let layer = try BatchNormReLULayer(channels: t.channels, height: t.height, width: t.width, maxBatch: t.maxBatch)
        let shape = layer.shape(batch: t.batch)
        var random = SplitMix64(seed: seed)
        let input = random.floatExact(shape.count, in: -2...2).map { Double(Float($0 + t.offset)) }
        let gamma = random.floatExact(t.channels, in: 0.5...1.5)
        let beta = random.floatExact(t.channels, in: -0.5...0.5)
        let dy = random.floatExact(shape.count)
        layer.weight.assign(gamma.floats)
        layer.bias.assign(beta.floats)
        return Setup(layer: layer, shape: shape, input: input, gamma: gamma, beta: beta, dy: dy)
    }

    @Test(arguments: cases)
    func trainingMatchesReference(_ t: Case) throws {
        let s = try Self.setup(t, seed: 10)
        let capacity = s.layer.shape(batch: t.maxBatch).count
        let input = TrainingBuffer(s.input.floats)
        let output = TrainingBuffer([Float](repeating: .nan, count: capacity))
        s.layer.forwardTraining(input: input.prefix(input.count), batch: t.batch, output: output.values)
        let zeros = [Double](repeating: 0, count: t.channels), ones = [Double](repeating: 1, count: t.channels)
        let expected = BatchNormReLUReference.forwardTraining(input: s.input, shape: s.shape, gamma: s.gamma, beta: s.beta,
                                                              runningMean: zeros, runningVariance: ones)
        let what = "\(s.shape) offset \(t.offset)"
        // x·α + β′ in Float cancels the common mode: its rounding is relative to |x·α|, not to the output.
        let alpha = (0..<t.channels).map { s.gamma[$0] / (expected.variance[$0] + 1e-5).squareRoot() }
        expectAffineClose(Array(output.prefix(s.shape.count)), expected.output, input: s.input, alpha: alpha, shape: s.shape, "\(what): output")
        expectClose(s.layer.runningMean.array, expected.runningMean, tolerance: floatTolerance, "\(what): running mean")
        expectClose(s.layer.runningVariance.array, expected.runningVariance, tolerance: floatTolerance, "\(what): running variance")
        #expect(s.layer.numBatchesTracked == 1)

        // Backward of that forward, written and accumulated.
        let dy = TrainingBuffer(s.dy.floats)
        let dInput = TrainingBuffer([Float](repeating: .nan, count: capacity))
        s.layer.backward(input: input.prefix(input.count), outputGradient: dy.prefix(dy.count), batch: t.batch, inputGradient: dInput.values)
        let gradients = BatchNormReLUReference.backward(input: s.input, shape: s.shape, gamma: s.gamma, beta: s.beta, outputGradient: s.dy)
        expectClose(Array(dInput.prefix(s.shape.count)), gradients.input, tolerance: floatTolerance, "\(what): dInput")
        expectClose(s.layer.weightGradient.array, gradients.gamma, tolerance: floatTolerance, "\(what): dGamma")
        expectClose(s.layer.biasGradient.array, gradients.beta, tolerance: floatTolerance, "\(what): dBeta")
        var random = SplitMix64(seed: 11)
        let base = random.floatExact(s.shape.count)
        dInput.assign(base.floats + Array(dInput.array[s.shape.count...]))
        s.layer.backward(input: input.prefix(input.count), outputGradient: dy.prefix(dy.count), batch: t.batch,
                         inputGradient: dInput.values, accumulating: true)
        expectClose(Array(dInput.prefix(s.shape.count)), zip(base, gradients.input).map(+), tolerance: floatTolerance, "\(what): accumulated dInput")

        // A second batch moves the running statistics on from the first's.
        let second = random.floatExact(s.shape.count, in: -1...3)
        let secondInput = TrainingBuffer(second.floats)
        s.layer.forwardTraining(input: secondInput.prefix(second.count), batch: t.batch, output: output.values)
        let expectedSecond = BatchNormReLUReference.forwardTraining(
            input: second, shape: s.shape, gamma: s.gamma, beta: s.beta,
            runningMean: expected.runningMean, runningVariance: expected.runningVariance)
        expectClose(s.layer.runningMean.array, expectedSecond.runningMean, tolerance: floatTolerance, "\(what): running mean after 2 batches")
        expectClose(s.layer.runningVariance.array, expectedSecond.runningVariance, tolerance: floatTolerance, "\(what): running variance after 2 batches")
        #expect(s.layer.numBatchesTracked == 2)
    }

    @Test(arguments: cases)
    func evaluationUsesRunningStatistics(_ t: Case) throws {
        let s = try Self.setup(t, seed: 12)
        var random = SplitMix64(seed: 13)
        let mean = random.floatExact(t.channels, in: -1...1).map { Double(Float($0 + t.offset)) }
        let variance = random.floatExact(t.channels, in: 0.2...3)
        s.layer.runningMean.assign(mean.floats)
        s.layer.runningVariance.assign(variance.floats)
        let input = TrainingBuffer(s.input.floats), output = TrainingBuffer(count: s.shape.count)
        s.layer.forwardEvaluation(input: input.prefix(s.shape.count), batch: t.batch, output: output.values)
        let expected = BatchNormReLUReference.forwardEvaluation(input: s.input, shape: s.shape, gamma: s.gamma, beta: s.beta,
                                                                runningMean: mean, runningVariance: variance)
        let alpha = (0..<t.channels).map { s.gamma[$0] / (variance[$0] + 1e-5).squareRoot() }
        expectAffineClose(output.array, expected, input: s.input, alpha: alpha, shape: s.shape, "\(s.shape) offset \(t.offset): evaluation output")
        #expect(s.layer.runningMean.array == mean.floats && s.layer.numBatchesTracked == 0, "evaluation changed the layer's state")
    }

    /// `max(0, x·α + β′)` computed in Float rounds x·α, so its error is relative to max |x·α|,
    /// which exceeds the output's range when the inputs share a large mean.
    func expectAffineClose(_ actual: [Float], _ expected: [Double], input: [Double], alpha: [Double], shape: CNHWShape,
                           _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        var scale = expected.map(abs).max() ?? 0
        for c in 0..<shape.channels {
            for i in 0..<shape.perChannel { scale = Swift.max(scale, abs(input[c * shape.perChannel + i] * alpha[c])) }
        }
        let error = zip(actual, expected).map { abs(Double($0) - $1) }.max() ?? 0
        #expect(error <= floatTolerance * scale, "\(what): off by \(error), more than \(floatTolerance) of |x·α| up to \(scale)",
                sourceLocation: sourceLocation)
    }

    @Test func runsAreBitIdentical() throws {
        let t = Self.cases[1]
        func run() throws -> [[Float]] {
            let s = try Self.setup(t, seed: 14)
            let input = TrainingBuffer(s.input.floats), dy = TrainingBuffer(s.dy.floats)
            let output = TrainingBuffer(count: s.shape.count), dInput = TrainingBuffer(count: s.shape.count)
            s.layer.forwardTraining(input: input.prefix(input.count), batch: t.batch, output: output.values)
            s.layer.backward(input: input.prefix(input.count), outputGradient: dy.prefix(dy.count), batch: t.batch, inputGradient: dInput.values)
            return [output.array, dInput.array, s.layer.weightGradient.array, s.layer.biasGradient.array,
                    s.layer.runningMean.array, s.layer.runningVariance.array]
        }
        let first = try run()
        #expect(first[1].contains { $0 != 0 })
        #expect(try run() == first)
    }

    /// Channels are split between members whole, so the team size changes nothing, to the bit.
    @Test(arguments: [2, 3, 5])
    func teamsGiveBitIdenticalResults(_ threads: Int) throws {
        let t = Self.cases[1]
        func run(_ team: ThreadTeam) throws -> [[Float]] {
            let layer = try BatchNormReLULayer(channels: t.channels, height: t.height, width: t.width, maxBatch: t.maxBatch, team: team)
            let s = try Self.setup(t, seed: 15)
            layer.weight.assign(s.gamma.floats)
            layer.bias.assign(s.beta.floats)
            let input = TrainingBuffer(s.input.floats), dy = TrainingBuffer(s.dy.floats)
            let output = TrainingBuffer(count: s.shape.count), dInput = TrainingBuffer(count: s.shape.count)
            let evaluation = TrainingBuffer(count: s.shape.count)
            layer.forwardTraining(input: input.prefix(input.count), batch: t.batch, output: output.values)
            layer.backward(input: input.prefix(input.count), outputGradient: dy.prefix(dy.count), batch: t.batch, inputGradient: dInput.values)
            layer.forwardEvaluation(input: input.prefix(input.count), batch: t.batch, output: evaluation.values)
            return [output.array, dInput.array, layer.weightGradient.array, layer.biasGradient.array,
                    layer.runningMean.array, layer.runningVariance.array, evaluation.array]
        }
        let alone = try run(.single)
        #expect(alone[1].contains { $0 != 0 })
        #expect(try run(ThreadTeam(count: threads)) == alone, "\(threads) threads differ from one")
    }

    @Test func invalidSettingsAreRejected() {
        #expect(throws: TrainingError.self) { try BatchNormReLULayer(channels: 0, height: 4, width: 4, maxBatch: 2) }
        #expect(throws: TrainingError.self) { try BatchNormReLULayer(channels: 4, height: 4, width: 4, maxBatch: 2, epsilon: 0) }
        #expect(throws: TrainingError.self) { try BatchNormReLULayer(channels: 4, height: 4, width: 4, maxBatch: 2, momentum: 1.5) }
    }

    @Test func startsAsPyTorchDoes() throws {
        let layer = try BatchNormReLULayer(channels: 3, height: 2, width: 2, maxBatch: 1)
        #expect(layer.weight.array == [1, 1, 1] && layer.bias.array == [0, 0, 0])
        #expect(layer.runningMean.array == [0, 0, 0] && layer.runningVariance.array == [1, 1, 1])
        #expect(layer.parameters.map(\.name) == ["weight", "bias"])
    }
}
