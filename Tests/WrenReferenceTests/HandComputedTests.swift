import Testing
import WrenNetwork
@testable import WrenReference

/// Cases small enough to work out on paper; all numbers are exact in float32.
@Suite struct HandComputedTests {
    @Test func batchNormReLU() {
        // Channel 0: 2 * (x - 3) / sqrt(4) - 1 = x - 4.  Channel 1: 0.5 * x / 1 + 3.
        let norm = BatchNorm(gamma: [2, 0.5], beta: [-1, 3], mean: [3, 0], variance: [4, 1], epsilon: 0)
        let shape = ActivationShape(batch: 1, channels: 2, height: 2, width: 2)
        var output = FeatureMap()
        norm.applyReLU(to: FeatureMap(shape: shape, values: [1, 5, 3, 7, -8, 2, 0, -4]), into: &output)
        #expect(output.values == [0, 1, 0, 3, 0, 4, 3, 1])
        var inPlace = FeatureMap(shape: shape, values: [1, 5, 3, 7, -8, 2, 0, -4])
        norm.applyReLU(inPlace: &inPlace)
        #expect(inPlace.values == output.values)
    }

    @Test func convolutionOfOnes() {
        let ones = FeatureMap(shape: ActivationShape(batch: 1, channels: 1, height: 3, width: 3), values: .init(repeating: 1, count: 9))
        let box = FloatTensor(shape: [1, 1, 3, 3], data: .init(repeating: 1, count: 9))
        var output = FeatureMap(), columns: [Float] = []
        // Each output counts the in-image pixels of its 3x3 window.
        Conv2D(weight: box, bias: nil, stride: 1, padding: 1).apply(to: ones, into: &output, columns: &columns)
        #expect(output.values == [4, 6, 4, 6, 9, 6, 4, 6, 4])
        Conv2D(weight: box, bias: [0.5], stride: 2, padding: 1).apply(to: ones, into: &output, columns: &columns)
        #expect(output.shape == ActivationShape(batch: 1, channels: 1, height: 2, width: 2))
        #expect(output.values == [4.5, 4.5, 4.5, 4.5])
    }

    @Test func strideTwoPointwiseConvolutionPicksEveryOtherPixel() {
        let image = FeatureMap(shape: ActivationShape(batch: 1, channels: 1, height: 3, width: 3), values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        var output = FeatureMap(), columns: [Float] = []
        Conv2D(weight: FloatTensor(shape: [2, 1, 1, 1], data: [2, -1]), bias: nil, stride: 2, padding: 0)
            .apply(to: image, into: &output, columns: &columns)
        #expect(output.values == [2, 6, 14, 18, -1, -3, -7, -9])
    }

    @Test func averagePoolAndClassifier() {
        var pooled = FeatureMap()
        globalAveragePool(FeatureMap(shape: ActivationShape(batch: 2, channels: 2, height: 1, width: 4),
                                     values: [1, 2, 3, 4, 0, 0, 0, 8, -4, 4, -4, 4, 1, 1, 1, 1]), into: &pooled)
        #expect(pooled.shape == ActivationShape(batch: 2, channels: 2, height: 1, width: 1))
        #expect(pooled.values == [2.5, 2, 0, 1])
        // [2.5, 2]·[[1, 2], [3, -1]]ᵀ + [0.5, 1] = [7, 6.5];  [0, 1]·... = [2.5, 0].
        let fc = Linear(weight: FloatTensor(shape: [2, 2], data: [1, 2, 3, -1]), bias: [0.5, 1])
        #expect(fc.apply(to: pooled.values, batch: 2) == [7, 6.5, 2.5, 0])
    }

    /// WRN-10-1 with zero conv weights except the shortcuts, so every activation is a constant:
    /// stem → -1; block1.0 (no shortcut) keeps the *raw* -1 (relu1 = 0 adds nothing);
    /// block2.0's shortcut sees the *activated* input 0, giving its bias 0.5, plus conv2's bias 0.25 → 0.75;
    /// block3.0's shortcut averages 32 channels of 0.75 → 0.75; fc: 64 × 0.75 + 1 = 49 and -0.75.
    @Test func residualStreamsOfATinyNetwork() throws {
        func conv(_ out: Int, _ inChannels: Int, _ k: Int, stride: Int, weight: Float = 0, bias: Float = 0) -> Conv2D {
            Conv2D(weight: FloatTensor(shape: [out, inChannels, k, k], data: .init(repeating: weight, count: out * inChannels * k * k)),
                   bias: .init(repeating: bias, count: out), stride: stride, padding: k == 3 ? 1 : 0)
        }
        func identity(_ c: Int) -> BatchNorm {
            BatchNorm(gamma: .init(repeating: 1, count: c), beta: .init(repeating: 0, count: c),
                      mean: .init(repeating: 0, count: c), variance: .init(repeating: 1, count: c), epsilon: 0)
        }
        let groups = [
            [BasicBlock(bn1: identity(16), conv1: conv(16, 16, 3, stride: 1), bn2: identity(16), conv2: conv(16, 16, 3, stride: 1), shortcut: nil)],
            [BasicBlock(bn1: identity(16), conv1: conv(32, 16, 3, stride: 2), bn2: identity(32), conv2: conv(32, 32, 3, stride: 1, bias: 0.25),
                        shortcut: conv(32, 16, 1, stride: 2, weight: 1, bias: 0.5))],
            [BasicBlock(bn1: identity(32), conv1: conv(64, 32, 3, stride: 2), bn2: identity(64), conv2: conv(64, 64, 3, stride: 1),
                        shortcut: conv(64, 32, 1, stride: 2, weight: 1.0 / 32))],
        ]
        let fcWeight = [Float](repeating: 1, count: 64) + [Float](repeating: -1.0 / 64, count: 64)
        let model = WideResNet(architecture: WRNArchitecture(depth: 10, widenFactor: 1, numClasses: 2, convBias: true),
                               stem: conv(16, 3, 3, stride: 1, bias: -1), groups: groups, finalBN: identity(64),
                               fc: Linear(weight: FloatTensor(shape: [2, 64], data: fcWeight), bias: [1, 0]))

        var random = SeededGenerator(seed: 5)
        var seen: [String: Set<Float>] = [:]
        let logits = try model.forward(random.uniform(2 * 3 * 8 * 8), batch: 2, height: 8, width: 8) { name, _, values in
            seen[name] = Set(values)
        }
        #expect(logits == [49, -0.75, 49, -0.75])
        #expect(seen["conv1"] == [-1])
        #expect(seen["block1.layer.0.relu1"] == [0])
        #expect(seen["block1.layer.0"] == [-1])
        #expect(seen["block2.layer.0.relu1"] == [0])
        #expect(seen["block2.layer.0.convShortcut"] == [0.5])
        #expect(seen["block2.layer.0"] == [0.75])
        #expect(seen["block3.layer.0.relu1"] == [0.75])
        #expect(seen["block3.layer.0"] == [0.75])
        #expect(seen["pool"] == [0.75])
    }
}
