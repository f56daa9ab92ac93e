import Testing
import WrenTestSupport
import WrenTrain

/// Each Double reference's backward pass against central finite differences of its own forward,
/// through the scalar `Σ outputGradient · forward(·)` with a random outputGradient.
@Suite struct GradcheckTests {
    static let convolutions: [(c: Int, o: Int, k: Int, s: Int, p: Int, bias: Bool, h: Int, w: Int, n: Int)] = [
        (3, 4, 3, 1, 1, true, 5, 5, 2),    // WRN 3x3, odd size
        (2, 3, 3, 2, 1, false, 7, 6, 1),   // down-sampling 3x3, batch 1
        (3, 2, 1, 1, 0, true, 4, 3, 3),    // 1x1, input read as columns
        (4, 5, 1, 2, 0, false, 5, 5, 2),   // 1x1 stride-2 shortcut, odd size
        (2, 2, 3, 1, 0, true, 5, 4, 2),    // unpadded 3x3
        (1, 3, 3, 2, 1, true, 2, 3, 1),    // output 1 row high
    ]

    @Test(arguments: convolutions.indices)
    func convolution(_ index: Int) throws {
        let t = Self.convolutions[index]
        let g = try ConvolutionGeometry(inChannels: t.c, outChannels: t.o, kernelSize: t.k, stride: t.s, padding: t.p,
                                        hasBias: t.bias, inputHeight: t.h, inputWidth: t.w)
        var random = SplitMix64(seed: 100 + UInt64(index))
        let input = random.floatExact(g.inputShape(batch: t.n).count)
        let weight = random.floatExact(g.weightCount)
        let bias = t.bias ? random.floatExact(t.o) : nil
        let dy = random.floatExact(g.outputShape(batch: t.n).count)
        let analytic = ConvolutionReference.backward(g, batch: t.n, input: input, weight: weight, outputGradient: dy)
        let what = "\(g) at batch \(t.n)"

        let dInput = numericGradient(of: { dot(ConvolutionReference.forward(g, batch: t.n, input: $0, weight: weight, bias: bias), dy) }, at: input)
        expectClose(analytic.input, dInput, tolerance: gradcheckTolerance, "\(what): dInput")
        let dWeight = numericGradient(of: { dot(ConvolutionReference.forward(g, batch: t.n, input: input, weight: $0, bias: bias), dy) }, at: weight)
        expectClose(analytic.weight, dWeight, tolerance: gradcheckTolerance, "\(what): dWeight")
        if let bias {
            let dBias = numericGradient(of: { dot(ConvolutionReference.forward(g, batch: t.n, input: input, weight: weight, bias: $0), dy) }, at: bias)
            expectClose(try #require(analytic.bias), dBias, tolerance: gradcheckTolerance, "\(what): dBias")
        } else {
            #expect(analytic.bias == nil)
        }
    }

    /// The definition on a hand-checkable case: a 3x3 all-ones kernel over a 3x3 ramp sums each
    /// output's in-bounds neighbourhood (the centre sees all nine values, a corner four).
    @Test func convolutionByHand() throws {
        let g = try ConvolutionGeometry(inChannels: 1, outChannels: 1, kernelSize: 3, stride: 1, padding: 1, inputHeight: 3, inputWidth: 3)
        let output = ConvolutionReference.forward(g, batch: 1, input: (1...9).map(Double.init), weight: Array(repeating: 1, count: 9), bias: nil)
        #expect(output == [12, 21, 16, 27, 45, 33, 24, 39, 28])
    }

    static let batchNorms: [CNHWShape] = [
        CNHWShape(channels: 3, batch: 2, height: 3, width: 3),
        CNHWShape(channels: 2, batch: 1, height: 5, width: 3),
        CNHWShape(channels: 1, batch: 4, height: 1, width: 1),
    ]

    @Test(arguments: batchNorms.indices)
    func batchNormReLU(_ index: Int) throws {
        let shape = Self.batchNorms[index]
        var random = SplitMix64(seed: 200 + UInt64(index))
        let input = random.floatExact(shape.count, in: -2...3)
        let gamma = random.floatExact(shape.channels, in: 0.5...1.5)
        let beta = random.floatExact(shape.channels, in: -0.3...0.3)
        let dy = random.floatExact(shape.count)
        let h = 1e-6
        // A pre-activation within a few steps of 0 would put the ReLU's kink inside the difference.
        let forward = BatchNormReLUReference.forwardTraining(input: input, shape: shape, gamma: gamma, beta: beta,
                                                             runningMean: Array(repeating: 0, count: shape.channels),
                                                             runningVariance: Array(repeating: 1, count: shape.channels))
        for c in 0..<shape.channels {
            for i in 0..<shape.perChannel {
                let x = input[c * shape.perChannel + i]
                let pre = gamma[c] * (x - forward.mean[c]) / (forward.variance[c] + 1e-5).squareRoot() + beta[c]
                try #require(abs(pre) > 1e3 * h, "seed puts a pre-activation at \(pre), on the ReLU's kink")
            }
        }
        #expect(forward.output.contains(0) && forward.output.contains { $0 > 0 }, "both sides of the ReLU are exercised")

        func loss(_ x: [Double], _ gamma: [Double], _ beta: [Double]) -> Double {
            let running = Array(repeating: 0.0, count: shape.channels)
            return dot(BatchNormReLUReference.forwardTraining(input: x, shape: shape, gamma: gamma, beta: beta,
                                                              runningMean: running, runningVariance: running).output, dy)
        }
        let analytic = BatchNormReLUReference.backward(input: input, shape: shape, gamma: gamma, beta: beta, outputGradient: dy)
        expectClose(analytic.input, numericGradient(of: { loss($0, gamma, beta) }, at: input, step: h), tolerance: gradcheckTolerance, "\(shape): dInput")
        expectClose(analytic.gamma, numericGradient(of: { loss(input, $0, beta) }, at: gamma, step: h), tolerance: gradcheckTolerance, "\(shape): dGamma")
        expectClose(analytic.beta, numericGradient(of: { loss(input, gamma, $0) }, at: beta, step: h), tolerance: gradcheckTolerance, "\(shape): dBeta")
    }

    /// The running statistics by hand: one channel holding 1, 2, 3, 6 has mean 3, biased variance
    /// 3.5 and unbiased 14/3.
    @Test func batchNormRunningStatisticsByHand() {
        let shape = CNHWShape(channels: 1, batch: 2, height: 1, width: 2)
        let forward = BatchNormReLUReference.forwardTraining(input: [1, 2, 3, 6], shape: shape, gamma: [1], beta: [0],
                                                             runningMean: [0], runningVariance: [1])
        #expect(forward.mean == [3])
        #expect(forward.variance == [3.5])
        #expect(abs(forward.runningMean[0] - 0.3) < 1e-15)
        #expect(abs(forward.runningVariance[0] - (0.9 + 0.1 * 14.0 / 3)) < 1e-15)
    }

    @Test func dropoutWithFixedMask() {
        var random = SplitMix64(seed: 300)
        let input = random.floatExact(40)
        let mask = (0..<40).map { _ in Bool.random(using: &random) ? 1 / 0.7 : 0 }
        let dy = random.floatExact(40)
        let numeric = numericGradient(of: { dot(DropoutReference.forward(input: $0, mask: mask), dy) }, at: input)
        expectClose(DropoutReference.backward(outputGradient: dy, mask: mask), numeric, tolerance: gradcheckTolerance, "dropout over 40 values")
    }

    @Test(arguments: [CNHWShape(channels: 3, batch: 2, height: 3, width: 5), CNHWShape(channels: 2, batch: 1, height: 1, width: 1)])
    func globalAveragePool(_ shape: CNHWShape) {
        var random = SplitMix64(seed: 400)
        let input = random.floatExact(shape.count)
        let dy = random.floatExact(shape.channels * shape.batch)
        let numeric = numericGradient(of: { dot(GlobalAveragePoolReference.forward(input: $0, shape: shape), dy) }, at: input)
        expectClose(GlobalAveragePoolReference.backward(outputGradient: dy, shape: shape), numeric,
                    tolerance: gradcheckTolerance, "global average pool \(shape)")
    }

    @Test(arguments: [(batch: 1, inFeatures: 5, outFeatures: 3), (batch: 4, inFeatures: 7, outFeatures: 10)])
    func linear(_ t: (batch: Int, inFeatures: Int, outFeatures: Int)) {
        var random = SplitMix64(seed: 500)
        let input = random.floatExact(t.batch * t.inFeatures)
        let weight = random.floatExact(t.outFeatures * t.inFeatures)
        let bias = random.floatExact(t.outFeatures)
        let dy = random.floatExact(t.batch * t.outFeatures)
        let what = "linear \(t.inFeatures)→\(t.outFeatures) at batch \(t.batch)"
        func loss(_ x: [Double], _ w: [Double], _ b: [Double]) -> Double {
            dot(LinearReference.forward(input: x, batch: t.batch, weight: w, bias: b, outFeatures: t.outFeatures), dy)
        }
        let analytic = LinearReference.backward(input: input, batch: t.batch, weight: weight, outFeatures: t.outFeatures, outputGradient: dy)
        expectClose(analytic.input, numericGradient(of: { loss($0, weight, bias) }, at: input), tolerance: gradcheckTolerance, "\(what): dInput")
        expectClose(analytic.weight, numericGradient(of: { loss(input, $0, bias) }, at: weight), tolerance: gradcheckTolerance, "\(what): dWeight")
        expectClose(analytic.bias, numericGradient(of: { loss(input, weight, $0) }, at: bias), tolerance: gradcheckTolerance, "\(what): dBias")
    }

    @Test(arguments: [0.0, 0.1, 1.0])
    func softmaxCrossEntropy(_ smoothing: Double) {
        var random = SplitMix64(seed: 600)
        let classes = 7, labels = [3, 0, 6]
        let logits = random.floatExact(labels.count * classes, in: -4...4)
        let numeric = numericGradient(of: {
            SoftmaxCrossEntropyReference.loss(logits: $0, labels: labels, classes: classes, labelSmoothing: smoothing)
        }, at: logits)
        let analytic = SoftmaxCrossEntropyReference.gradient(logits: logits, labels: labels, classes: classes, labelSmoothing: smoothing)
        expectClose(analytic, numeric, tolerance: gradcheckTolerance, "cross-entropy, 3 images of 7 classes, smoothing \(smoothing)")
    }

    /// The reference's target-distribution form equals PyTorch's stated formula,
    /// (1 − ε)·NLL + ε·mean over classes of −log softmax; for 2 equal logits each term is log 2.
    @Test func softmaxCrossEntropyByHand() {
        let loss = SoftmaxCrossEntropyReference.loss(logits: [0, 0], labels: [1], classes: 2, labelSmoothing: 0.3)
        #expect(abs(loss - 0.6931471805599453) < 1e-15)
        let sharp = SoftmaxCrossEntropyReference.loss(logits: [0, 2], labels: [0], classes: 2, labelSmoothing: 0.2)
        let nll = 2 + 0.1269280110429725  // −log softmax(0)[0] = log(1 + e²)
        let uniform = (nll + (nll - 2)) / 2
        #expect(abs(sharp - (0.8 * nll + 0.2 * uniform)) < 1e-14)
    }
}
