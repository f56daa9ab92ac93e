import Testing
import WrenTestSupport
import WrenTrain

/// The network's head against the Double references: global average pooling, the linear
/// classifier in both input layouts, softmax cross-entropy with and without label smoothing.
@Suite struct LayerHeadTests {
    @Test(arguments: [(channels: 16, batch: 3, maxBatch: 4, height: 8, width: 8), (channels: 5, batch: 1, maxBatch: 1, height: 3, width: 5)])
    func globalAveragePool(_ t: (channels: Int, batch: Int, maxBatch: Int, height: Int, width: Int)) throws {
        let layer = try GlobalAveragePoolLayer(channels: t.channels, height: t.height, width: t.width, maxBatch: t.maxBatch)
        let shape = layer.inputShape(batch: t.batch)
        var random = SplitMix64(seed: 30)
        let input = random.floatExact(shape.count, in: 0...3)
        let dy = random.floatExact(t.channels * t.batch)
        let inputBuffer = TrainingBuffer(input.floats), output = TrainingBuffer(count: t.channels * t.maxBatch)
        layer.forward(input: inputBuffer.prefix(shape.count), batch: t.batch, output: output.values)
        expectClose(Array(output.prefix(t.channels * t.batch)), GlobalAveragePoolReference.forward(input: input, shape: shape),
                    tolerance: floatTolerance, "pool \(shape): output")
        let dyBuffer = TrainingBuffer(dy.floats), dInput = TrainingBuffer([Float](repeating: .nan, count: shape.count))
        layer.backward(outputGradient: dyBuffer.prefix(dy.count), batch: t.batch, inputGradient: dInput.values)
        expectClose(dInput.array, GlobalAveragePoolReference.backward(outputGradient: dy, shape: shape),
                    tolerance: floatTolerance, "pool \(shape): dInput")
    }

    @Test(arguments: [LinearLayer.InputLayout.batchMajor, .featureMajor], [1, 5])
    func linear(_ layout: LinearLayer.InputLayout, batch: Int) throws {
        let inFeatures = 64, outFeatures = 10
        let layer = try LinearLayer(inFeatures: inFeatures, outFeatures: outFeatures, maxBatch: 6, inputLayout: layout)
        var random = SplitMix64(seed: 31)
        let x = random.floatExact(batch * inFeatures)  // [N, in]
        let weight = random.floatExact(outFeatures * inFeatures), bias = random.floatExact(outFeatures)
        let dy = random.floatExact(batch * outFeatures)
        layer.weight.assign(weight.floats)
        layer.bias.assign(bias.floats)
        // The layer's input in its layout: [in, N] is the transpose.
        func laidOut(_ v: [Double]) -> [Double] {
            layout == .batchMajor ? v : (0..<v.count).map { v[($0 % batch) * inFeatures + $0 / batch] }
        }
        let input = TrainingBuffer(laidOut(x).floats), output = TrainingBuffer(count: 6 * outFeatures)
        layer.forward(input: input.prefix(input.count), batch: batch, output: output.values)
        let what = "linear \(inFeatures)→\(outFeatures), \(layout), batch \(batch)"
        expectClose(Array(output.prefix(batch * outFeatures)),
                    LinearReference.forward(input: x, batch: batch, weight: weight, bias: bias, outFeatures: outFeatures),
                    tolerance: floatTolerance, "\(what): output")
        let dyBuffer = TrainingBuffer(dy.floats), dInput = TrainingBuffer([Float](repeating: .nan, count: batch * inFeatures))
        layer.backward(input: input.prefix(input.count), outputGradient: dyBuffer.prefix(dy.count), batch: batch, inputGradient: dInput.values)
        let expected = LinearReference.backward(input: x, batch: batch, weight: weight, outFeatures: outFeatures, outputGradient: dy)
        expectClose(dInput.array, laidOut(expected.input), tolerance: floatTolerance, "\(what): dInput")
        expectClose(layer.weightGradient.array, expected.weight, tolerance: floatTolerance, "\(what): dWeight")
        expectClose(layer.biasGradient.array, expected.bias, tolerance: floatTolerance, "\(what): dBias")
    }

    @Test(arguments: [0.0, 0.1])
    func crossEntropy(_ smoothing: Double) throws {
        let classes = 10, batch = 6
        let loss = try SoftmaxCrossEntropyLoss(classes: classes, labelSmoothing: smoothing)
        var random = SplitMix64(seed: 32)
        let logits = random.floatExact(batch * classes, in: -5...5)
        let labels = (0..<batch).map { _ in Int.random(in: 0..<classes, using: &random) }
        let logitBuffer = TrainingBuffer(logits.floats), gradient = TrainingBuffer(count: batch * classes)
        let result = try labels.withUnsafeBufferPointer {
            try loss.evaluate(logits: logitBuffer.prefix(logitBuffer.count), labels: $0, batch: batch, logitGradient: gradient.values)
        }
        let expectedLoss = SoftmaxCrossEntropyReference.loss(logits: logits, labels: labels, classes: classes, labelSmoothing: smoothing)
        #expect(abs(result.loss - expectedLoss) <= 1e-12 * expectedLoss, "cross-entropy, smoothing \(smoothing): loss \(result.loss) vs \(expectedLoss)")
        expectClose(gradient.array, SoftmaxCrossEntropyReference.gradient(logits: logits, labels: labels, classes: classes, labelSmoothing: smoothing),
                    tolerance: floatTolerance, "cross-entropy, \(batch) images of \(classes) classes, smoothing \(smoothing): dLogits")
        let argmax = (0..<batch).map { n in (0..<classes).max { logits[n * classes + $0] < logits[n * classes + $1] }! }
        #expect(result.correct == zip(argmax, labels).filter { $0 == $1 }.count)
    }

    @Test func crossEntropyIsStableForHugeLogitsAndCountsCorrectAnswers() throws {
        let loss = try SoftmaxCrossEntropyLoss(classes: 3)
        let logits = TrainingBuffer([1000, -1000, 0, 0, 0, 500]), gradient = TrainingBuffer(count: 6)
        let labels = [0, 1]
        let result = try labels.withUnsafeBufferPointer {
            try loss.evaluate(logits: logits.prefix(6), labels: $0, batch: 2, logitGradient: gradient.values)
        }
        // Image 0 is certain and right (loss 0); image 1 puts all mass on class 2: loss 500.
        #expect(abs(result.loss - 250) < 1e-9 && result.correct == 1)
        #expect(gradient.array == [0, 0, 0, 0, -0.5, 0.5])
    }

    @Test func headRunsAreBitIdentical() throws {
        let pool = try GlobalAveragePoolLayer(channels: 8, height: 4, width: 4, maxBatch: 3)
        let linear = try LinearLayer(inFeatures: 8, outFeatures: 5, maxBatch: 3, inputLayout: .featureMajor)
        let loss = try SoftmaxCrossEntropyLoss(classes: 5, labelSmoothing: 0.1)
        var random = SplitMix64(seed: 33)
        linear.weight.assign(random.floatExact(40).floats)
        let input = TrainingBuffer(random.floatExact(8 * 3 * 16).floats)
        let pooled = TrainingBuffer(count: 24), logits = TrainingBuffer(count: 15), dLogits = TrainingBuffer(count: 15)
        let dPooled = TrainingBuffer(count: 24), dInput = TrainingBuffer(count: input.count)
        let labels = [4, 0, 2]
        func run() throws -> [[Float]] {
            pool.forward(input: input.prefix(input.count), batch: 3, output: pooled.values)
            linear.forward(input: pooled.prefix(24), batch: 3, output: logits.values)
            let result = try labels.withUnsafeBufferPointer {
                try loss.evaluate(logits: logits.prefix(15), labels: $0, batch: 3, logitGradient: dLogits.values)
            }
            linear.backward(input: pooled.prefix(24), outputGradient: dLogits.prefix(15), batch: 3, inputGradient: dPooled.values)
            pool.backward(outputGradient: dPooled.prefix(24), batch: 3, inputGradient: dInput.values)
            return [[Float(result.loss)], logits.array, dLogits.array, linear.weightGradient.array, linear.biasGradient.array, dInput.array]
        }
        let first = try run()
        #expect(first[5].contains { $0 != 0 })
        #expect(try run() == first)
    }

    @Test func residualCopyAndAdd() {
        let a = TrainingBuffer([1, 2, 3, 4]), b = TrainingBuffer([10, 20, 30, 40])
        Residual.add(a.prefix(4), to: b.values, count: 3)
        #expect(b.array == [11, 22, 33, 40])
        Residual.copy(a.prefix(4), into: b.values, count: 2)
        #expect(b.array == [1, 2, 33, 40])
    }

    @Test func labelsOutsideTheClassesThrowBeforeWriting() throws {
        let loss = try SoftmaxCrossEntropyLoss(classes: 3)
        let logits = TrainingBuffer(count: 6), gradient = TrainingBuffer([Float](repeating: 7, count: 6))
        let labels = [2, 3]
        #expect(throws: TrainingError.invalidData("label 3 of image 1 in the batch is outside 0..<3")) {
            try labels.withUnsafeBufferPointer { try loss.evaluate(logits: logits.prefix(6), labels: $0, batch: 2, logitGradient: gradient.values) }
        }
        #expect(gradient.array.allSatisfy { $0 == 7 })
        #expect(throws: TrainingError.self) { try SoftmaxCrossEntropyLoss(classes: 3, labelSmoothing: 1.5) }
    }
}
