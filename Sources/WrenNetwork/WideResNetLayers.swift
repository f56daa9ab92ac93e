/// The parameters of a pre-activation Wide Residual Network (Zagoruyko & Komodakis 2016), named as the
/// widely used PyTorch implementation names them. Everything here is plain float32 data; WrenReference
/// runs it.

/// A 2-D convolution: weight `[out, in, kh, kw]`, optional bias `[out]`, square stride and padding.
public struct Conv2D: Sendable {
    public var weight: FloatTensor
    public var bias: [Float]?
    public var stride: Int
    public var padding: Int

    public init(weight: FloatTensor, bias: [Float]?, stride: Int, padding: Int) {
        self.weight = weight
        self.bias = bias
        self.stride = stride
        self.padding = padding
    }

    public var outChannels: Int { weight.shape[0] }
    public var inChannels: Int { weight.shape[1] }
    public var kernelSize: Int { weight.shape[2] }

    /// Output height and width for an input of `height` × `width` (PyTorch's floor rule).
    package func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding - kernelSize) / stride + 1, (width + 2 * padding - kernelSize) / stride + 1)
    }
}

/// Eval-mode batch normalization: `gamma * (x - mean) / sqrt(variance + epsilon) + beta` per channel.
public struct BatchNorm: Sendable {
    public var gamma: [Float]
    public var beta: [Float]
    public var mean: [Float]
    public var variance: [Float]
    public var epsilon: Float

    public init(gamma: [Float], beta: [Float], mean: [Float], variance: [Float], epsilon: Float = 1e-5) {
        self.gamma = gamma
        self.beta = beta
        self.mean = mean
        self.variance = variance
        self.epsilon = epsilon
    }

    public var channels: Int { gamma.count }

    /// The per-channel affine form `y = scale * x + shift`, computed in Double for a faithful fold.
    public func affine() -> (scale: [Double], shift: [Double]) {
        var scale = [Double](repeating: 0, count: channels)
        var shift = [Double](repeating: 0, count: channels)
        for c in 0..<channels {
            let s = Double(gamma[c]) / (Double(variance[c]) + Double(epsilon)).squareRoot()
            scale[c] = s
            shift[c] = Double(beta[c]) - Double(mean[c]) * s
        }
        return (scale, shift)
    }
}

/// A fully connected layer: weight `[out, in]` (PyTorch's layout), bias `[out]`.
public struct Linear: Sendable {
    public var weight: FloatTensor
    public var bias: [Float]

    public init(weight: FloatTensor, bias: [Float]) {
        self.weight = weight
        self.bias = bias
    }

    public var outFeatures: Int { weight.shape[0] }
    public var inFeatures: Int { weight.shape[1] }
}

/// One pre-activation block: BN-ReLU-conv3x3-BN-ReLU-conv3x3 plus the residual.
/// When `shortcut` is nil (input and output channels equal) the residual is the raw input stream;
/// otherwise it is `shortcut(relu(bn1(x)))`.
public struct BasicBlock: Sendable {
    public var bn1: BatchNorm
    public var conv1: Conv2D
    public var bn2: BatchNorm
    public var conv2: Conv2D
    public var shortcut: Conv2D?

    public init(bn1: BatchNorm, conv1: Conv2D, bn2: BatchNorm, conv2: Conv2D, shortcut: Conv2D?) {
        self.bn1 = bn1
        self.conv1 = conv1
        self.bn2 = bn2
        self.conv2 = conv2
        self.shortcut = shortcut
    }

    public var equalInOut: Bool { shortcut == nil }
}
