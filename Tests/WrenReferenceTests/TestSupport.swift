import WrenNetwork
import WrenTestSupport

/// The shared seeded generator, so every test tensor is reproducible.
typealias SeededGenerator = SplitMix64

extension SplitMix64 {
    mutating func uniform(_ count: Int, in range: ClosedRange<Float> = -1...1) -> [Float] {
        (0..<count).map { _ in Float.random(in: range, using: &self) }
    }

    mutating func tensor(_ shape: [Int], in range: ClosedRange<Float> = -1...1) -> FloatTensor {
        FloatTensor(shape: shape, data: uniform(shape.reduce(1, *), in: range))
    }
}

/// The largest absolute difference between two equally long arrays, and the largest magnitude of `reference`.
func maxDifference(_ values: [Float], _ reference: [Float]) -> (difference: Float, scale: Float) {
    precondition(values.count == reference.count)
    var difference: Float = 0, scale: Float = 0
    for (value, expected) in zip(values, reference) {
        difference = max(difference, abs(value - expected))
        scale = max(scale, abs(expected))
    }
    return (difference, scale)
}

/// The textbook 7-loop convolution (image, out channel, output row, output column, in channel, kernel
/// row, kernel column), accumulated in Double: the reference the im2col + sgemm path must match.
func naiveConvolution(_ conv: Conv2D, input: [Float], shape: ActivationShape) -> (values: [Float], shape: ActivationShape) {
    let k = conv.kernelSize
    let outHeight = (shape.height + 2 * conv.padding - k) / conv.stride + 1
    let outWidth = (shape.width + 2 * conv.padding - k) / conv.stride + 1
    let outShape = ActivationShape(batch: shape.batch, channels: conv.outChannels, height: outHeight, width: outWidth)
    var output = [Float](repeating: 0, count: outShape.count)
    for n in 0..<shape.batch {
        for o in 0..<conv.outChannels {
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    var sum = Double(conv.bias?[o] ?? 0)
                    for c in 0..<conv.inChannels {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                let iy = oy * conv.stride - conv.padding + ky
                                let ix = ox * conv.stride - conv.padding + kx
                                guard iy >= 0, iy < shape.height, ix >= 0, ix < shape.width else { continue }
                                let x = input[((n * shape.channels + c) * shape.height + iy) * shape.width + ix]
                                let w = conv.weight.data[((o * conv.inChannels + c) * k + ky) * k + kx]
                                sum += Double(x) * Double(w)
                            }
                        }
                    }
                    output[((n * conv.outChannels + o) * outHeight + oy) * outWidth + ox] = Float(sum)
                }
            }
        }
    }
    return (output, outShape)
}

/// `relu(gamma * (x - mean) / sqrt(var + eps) + beta)` straight from the definition, in Double.
func naiveBatchNormReLU(_ norm: BatchNorm, input: [Float], shape: ActivationShape) -> [Float] {
    let plane = shape.height * shape.width
    return input.indices.map { index in
        let c = (index / plane) % shape.channels
        let normalized = (Double(input[index]) - Double(norm.mean[c])) / (Double(norm.variance[c]) + Double(norm.epsilon)).squareRoot()
        return Float(max(0, normalized * Double(norm.gamma[c]) + Double(norm.beta[c])))
    }
}

/// A state dict named exactly as PyTorch's WideResNet names it, with seeded random values:
/// convs ~ U(±sqrt(3/fan_in))·√2 (He-like), BN gamma/var in [0.5, 1.5], beta/mean in ±0.2.
func syntheticStateDict(depth: Int, widenFactor: Int, classes: Int, convBias: Bool = false, seed: UInt64) -> [String: FloatTensor] {
    var random = SeededGenerator(seed: seed)
    var tensors: [String: FloatTensor] = [:]
    func conv(_ name: String, _ out: Int, _ inChannels: Int, _ k: Int) {
        let bound = (6 / Float(inChannels * k * k)).squareRoot()
        tensors[name + ".weight"] = random.tensor([out, inChannels, k, k], in: -bound...bound)
        if convBias { tensors[name + ".bias"] = random.tensor([out], in: -0.1...0.1) }
    }
    func norm(_ name: String, _ channels: Int) {
        tensors[name + ".weight"] = random.tensor([channels], in: 0.5...1.5)
        tensors[name + ".bias"] = random.tensor([channels], in: -0.2...0.2)
        tensors[name + ".running_mean"] = random.tensor([channels], in: -0.2...0.2)
        tensors[name + ".running_var"] = random.tensor([channels], in: 0.5...1.5)
        tensors[name + ".num_batches_tracked"] = FloatTensor(shape: [], data: [100])
    }
    let n = (depth - 4) / 6
    let widths = [16, 16 * widenFactor, 32 * widenFactor, 64 * widenFactor]
    conv("conv1", 16, 3, 3)
    for g in 1...3 {
        for i in 0..<n {
            let prefix = "block\(g).layer.\(i)"
            let inChannels = i == 0 ? widths[g - 1] : widths[g]
            norm(prefix + ".bn1", inChannels)
            conv(prefix + ".conv1", widths[g], inChannels, 3)
            norm(prefix + ".bn2", widths[g])
            conv(prefix + ".conv2", widths[g], widths[g], 3)
            if inChannels != widths[g] { conv(prefix + ".convShortcut", widths[g], inChannels, 1) }
        }
    }
    norm("bn1", widths[3])
    tensors["fc.weight"] = random.tensor([classes, widths[3]], in: -0.3...0.3)
    tensors["fc.bias"] = random.tensor([classes], in: -0.1...0.1)
    return tensors
}
