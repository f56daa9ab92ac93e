import Testing
import WrenNetwork
@testable import WrenReference

/// The im2col + sgemm convolution against the naive 7-loop one on random data.
@Suite struct ConvolutionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var inChannels, outChannels, kernel, stride, padding, height, width: Int
        var bias: Bool
        var testDescription: String {
            "\(inChannels)→\(outChannels) \(kernel)x\(kernel) s\(stride) p\(padding) on \(height)x\(width)\(bias ? " +bias" : "")"
        }
    }

    static let cases: [Case] = [
        Case(inChannels: 3, outChannels: 16, kernel: 3, stride: 1, padding: 1, height: 9, width: 7, bias: false),
        Case(inChannels: 5, outChannels: 8, kernel: 3, stride: 1, padding: 1, height: 6, width: 11, bias: true),
        Case(inChannels: 16, outChannels: 32, kernel: 3, stride: 2, padding: 1, height: 9, width: 12, bias: false),
        Case(inChannels: 7, outChannels: 6, kernel: 3, stride: 2, padding: 1, height: 8, width: 5, bias: true),
        Case(inChannels: 16, outChannels: 32, kernel: 1, stride: 2, padding: 0, height: 9, width: 12, bias: false),
        Case(inChannels: 6, outChannels: 4, kernel: 1, stride: 2, padding: 0, height: 7, width: 10, bias: true),
        Case(inChannels: 12, outChannels: 5, kernel: 1, stride: 1, padding: 0, height: 5, width: 3, bias: true),
        Case(inChannels: 64, outChannels: 20, kernel: 3, stride: 1, padding: 1, height: 4, width: 6, bias: false),
        Case(inChannels: 4, outChannels: 3, kernel: 3, stride: 1, padding: 0, height: 5, width: 8, bias: true),
        Case(inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: 1, height: 1, width: 2, bias: false),
        // Shapes the direct AVX-512 kernel takes (3x3 s1 p1, outputs a multiple of 8, H·W of 16).
        Case(inChannels: 3, outChannels: 16, kernel: 3, stride: 1, padding: 1, height: 4, width: 4, bias: true),
        Case(inChannels: 16, outChannels: 24, kernel: 3, stride: 1, padding: 1, height: 8, width: 6, bias: false),
        Case(inChannels: 40, outChannels: 8, kernel: 3, stride: 1, padding: 1, height: 2, width: 8, bias: true),
        // Padding wider than the image and strides past the kernel: the padding columns of each row.
        Case(inChannels: 3, outChannels: 4, kernel: 3, stride: 1, padding: 2, height: 2, width: 1, bias: true),
        Case(inChannels: 3, outChannels: 5, kernel: 3, stride: 3, padding: 1, height: 7, width: 8, bias: false),
    ]

    @Test(arguments: cases)
    func matchesNaiveConvolution(_ c: Case) {
        var random = SeededGenerator(seed: UInt64(c.inChannels * 1000 + c.height * 10 + c.width))
        let conv = Conv2D(weight: random.tensor([c.outChannels, c.inChannels, c.kernel, c.kernel]),
                          bias: c.bias ? random.uniform(c.outChannels) : nil, stride: c.stride, padding: c.padding)
        let shape = ActivationShape(batch: 2, channels: c.inChannels, height: c.height, width: c.width)
        let input = random.uniform(shape.count)

        var output = FeatureMap(), columns: [Float] = []
        conv.apply(to: FeatureMap(shape: shape, values: input), into: &output, columns: &columns)
        let expected = naiveConvolution(conv, input: input, shape: shape)

        #expect(output.shape == expected.shape)
        let (difference, scale) = maxDifference(output.values, expected.values)
        #expect(difference <= 1e-5 * scale, "\(c): max|Δ| \(difference), max|ref| \(scale)")
    }

    /// The GEMM path and the direct kernel's (8 outputs on 4x8 positions), with a bias.
    @Test(arguments: [(6, 5, 7), (8, 4, 8)])
    func accumulatesOntoExistingOutput(_ outChannels: Int, _ height: Int, _ width: Int) {
        var random = SeededGenerator(seed: 77)
        let conv = Conv2D(weight: random.tensor([outChannels, 4, 3, 3]), bias: random.uniform(outChannels), stride: 1, padding: 1)
        let shape = ActivationShape(batch: 3, channels: 4, height: height, width: width)
        let input = random.uniform(shape.count)
        let expected = naiveConvolution(conv, input: input, shape: shape)
        let residual = random.uniform(expected.values.count)

        var output = FeatureMap(shape: expected.shape, values: residual), columns: [Float] = []
        conv.apply(to: FeatureMap(shape: shape, values: input), into: &output, columns: &columns, accumulating: true)

        let sum = zip(expected.values, residual).map { $0 + $1 }
        let (difference, scale) = maxDifference(output.values, sum)
        #expect(difference <= 1e-5 * scale, "max|Δ| \(difference), max|ref| \(scale)")
    }

    /// A reused scratch buffer larger than needed must not leak stale values into a smaller conv.
    @Test func reusesScratchAcrossDifferentShapes() {
        var random = SeededGenerator(seed: 78)
        let big = Conv2D(weight: random.tensor([4, 8, 3, 3]), bias: nil, stride: 1, padding: 1)
        let small = Conv2D(weight: random.tensor([5, 3, 3, 3]), bias: nil, stride: 2, padding: 1)
        let bigShape = ActivationShape(batch: 1, channels: 8, height: 10, width: 10)
        let smallShape = ActivationShape(batch: 2, channels: 3, height: 6, width: 5)
        let smallInput = random.uniform(smallShape.count)

        var output = FeatureMap(), columns: [Float] = []
        big.apply(to: FeatureMap(shape: bigShape, values: random.uniform(bigShape.count)), into: &output, columns: &columns)
        small.apply(to: FeatureMap(shape: smallShape, values: smallInput), into: &output, columns: &columns)

        let expected = naiveConvolution(small, input: smallInput, shape: smallShape)
        #expect(output.shape == expected.shape)
        let (difference, scale) = maxDifference(output.values, expected.values)
        #expect(difference <= 1e-5 * scale)
    }
}
