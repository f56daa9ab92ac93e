#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Dropout with a given mask (0 or 1/(1 − p) per value), in Double: `y = x · mask`, `dx = dy · mask`.
public enum DropoutReference {
    public static func forward(input: [Double], mask: [Double]) -> [Double] { zip(input, mask).map(*) }
    public static func backward(outputGradient: [Double], mask: [Double]) -> [Double] { zip(outputGradient, mask).map(*) }
}

/// Global average pooling of a CNHW array into `[C, N]`, in Double.
public enum GlobalAveragePoolReference {
    public static func forward(input: [Double], shape: CNHWShape) -> [Double] {
        precondition(input.count == shape.count)
        var output = [Double](repeating: 0, count: shape.channels * shape.batch)
        for c in 0..<shape.channels {
            for n in 0..<shape.batch {
                var sum = 0.0
                for y in 0..<shape.height {
                    for x in 0..<shape.width { sum += input[shape.index(channel: c, image: n, y: y, x: x)] }
                }
                output[c * shape.batch + n] = sum / Double(shape.height * shape.width)
            }
        }
        return output
    }

    public static func backward(outputGradient: [Double], shape: CNHWShape) -> [Double] {
        precondition(outputGradient.count == shape.channels * shape.batch)
        var dInput = [Double](repeating: 0, count: shape.count)
        for c in 0..<shape.channels {
            for n in 0..<shape.batch {
                for y in 0..<shape.height {
                    for x in 0..<shape.width {
                        dInput[shape.index(channel: c, image: n, y: y, x: x)] =
                            outputGradient[c * shape.batch + n] / Double(shape.height * shape.width)
                    }
                }
            }
        }
        return dInput
    }
}

/// `y[n, o] = bias[o] + Σᵢ x[n, i] · weight[o, i]`, in Double, input batch-major `[N, in]`.
public enum LinearReference {
    public static func forward(input: [Double], batch: Int, weight: [Double], bias: [Double], outFeatures: Int) -> [Double] {
        let inFeatures = input.count / batch
        precondition(input.count == batch * inFeatures && weight.count == outFeatures * inFeatures && bias.count == outFeatures)
        var output = [Double](repeating: 0, count: batch * outFeatures)
        for n in 0..<batch {
            for o in 0..<outFeatures {
                var sum = bias[o]
                for i in 0..<inFeatures { sum += input[n * inFeatures + i] * weight[o * inFeatures + i] }
                output[n * outFeatures + o] = sum
            }
        }
        return output
    }

    public static func backward(input: [Double], batch: Int, weight: [Double], outFeatures: Int, outputGradient: [Double])
        -> (input: [Double], weight: [Double], bias: [Double]) {
        let inFeatures = input.count / batch
        precondition(outputGradient.count == batch * outFeatures && weight.count == outFeatures * inFeatures)
        var dInput = [Double](repeating: 0, count: input.count)
        var dWeight = [Double](repeating: 0, count: weight.count)
        var dBias = [Double](repeating: 0, count: outFeatures)
        for n in 0..<batch {
            for o in 0..<outFeatures {
                let dy = outputGradient[n * outFeatures + o]
                dBias[o] += dy
                for i in 0..<inFeatures {
                    dWeight[o * inFeatures + i] += dy * input[n * inFeatures + i]
                    dInput[n * inFeatures + i] += dy * weight[o * inFeatures + i]
                }
            }
        }
        return (dInput, dWeight, dBias)
    }
}

/// Softmax cross-entropy with label smoothing, in Double, by the definition: the smoothed target
/// distribution q = (1 − ε)·onehot + ε/classes, and loss = mean over images of −Σₖ qₖ·log softmax(z)ₖ,
/// which equals PyTorch's (1 − ε)·NLL + ε·mean over classes of −log softmax.
public enum SoftmaxCrossEntropyReference {
    public static func loss(logits: [Double], labels: [Int], classes: Int, labelSmoothing: Double) -> Double {
        var total = 0.0
        for (n, label) in labels.enumerated() {
            let logProbabilities = logSoftmax(Array(logits[(n * classes)..<((n + 1) * classes)]))
            for k in 0..<classes { total -= target(k, label, classes, labelSmoothing) * logProbabilities[k] }
        }
        return total / Double(labels.count)
    }

    /// d loss / d logits: (softmax(z) − q) / N.
    public static func gradient(logits: [Double], labels: [Int], classes: Int, labelSmoothing: Double) -> [Double] {
        var result = [Double](repeating: 0, count: logits.count)
        for (n, label) in labels.enumerated() {
            let probabilities = logSoftmax(Array(logits[(n * classes)..<((n + 1) * classes)])).map { exp($0) }
            for k in 0..<classes {
                result[n * classes + k] = (probabilities[k] - target(k, label, classes, labelSmoothing)) / Double(labels.count)
            }
        }
        return result
    }

    private static func target(_ k: Int, _ label: Int, _ classes: Int, _ epsilon: Double) -> Double {
        (k == label ? 1 - epsilon : 0) + epsilon / Double(classes)
    }

    private static func logSoftmax(_ z: [Double]) -> [Double] {
        let top = z.max()!
        let logSumExp = top + log(z.map { exp($0 - top) }.reduce(0, +))
        return z.map { $0 - logSumExp }
    }
}
