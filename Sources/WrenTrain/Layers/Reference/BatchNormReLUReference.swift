#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Batch normalization + ReLU written out in Double over CNHW arrays, step by step as the
/// textbook states it (normalize, scale and shift, rectify): the reference for `BatchNormReLULayer`.
public enum BatchNormReLUReference {
    public struct TrainingForward: Sendable {
        public let output: [Double]
        /// Per channel: the batch mean and the biased batch variance (divided by N·H·W).
        public let mean: [Double]
        public let variance: [Double]
        /// Running statistics after this batch: `(1 − momentum)·old + momentum·batch`, the
        /// variance unbiased (×n/(n − 1)).
        public let runningMean: [Double]
        public let runningVariance: [Double]
    }

    public static func forwardTraining(input: [Double], shape: CNHWShape, gamma: [Double], beta: [Double],
                                       runningMean: [Double], runningVariance: [Double],
                                       epsilon: Double = 1e-5, momentum: Double = 0.1) -> TrainingForward {
        precondition(input.count == shape.count && gamma.count == shape.channels && beta.count == shape.channels)
        let n = Double(shape.perChannel)
        var output = [Double](repeating: 0, count: shape.count)
        var means = [Double](), variances = [Double](), newMeans = [Double](), newVariances = [Double]()
        for c in 0..<shape.channels {
            let values = channel(c, of: input, shape)
            let mean = values.reduce(0, +) / n
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n
            let deviation = sqrt(variance + epsilon)
            for (i, x) in values.enumerated() {
                let normalized = (x - mean) / deviation
                output[c * shape.perChannel + i] = max(0, gamma[c] * normalized + beta[c])
            }
            means.append(mean)
            variances.append(variance)
            newMeans.append((1 - momentum) * runningMean[c] + momentum * mean)
            newVariances.append((1 - momentum) * runningVariance[c] + momentum * variance * n / (n - 1))
        }
        return TrainingForward(output: output, mean: means, variance: variances,
                               runningMean: newMeans, runningVariance: newVariances)
    }

    public static func forwardEvaluation(input: [Double], shape: CNHWShape, gamma: [Double], beta: [Double],
                                         runningMean: [Double], runningVariance: [Double], epsilon: Double = 1e-5) -> [Double] {
        precondition(input.count == shape.count)
        var output = [Double](repeating: 0, count: shape.count)
        for c in 0..<shape.channels {
            for (i, x) in channel(c, of: input, shape).enumerated() {
                let normalized = (x - runningMean[c]) / sqrt(runningVariance[c] + epsilon)
                output[c * shape.perChannel + i] = max(0, gamma[c] * normalized + beta[c])
            }
        }
        return output
    }

    /// Gradients of `Σ outputGradient · forwardTraining(input).output` (the batch statistics are
    /// functions of the input, so the gradient flows through them too).
    public static func backward(input: [Double], shape: CNHWShape, gamma: [Double], beta: [Double],
                                outputGradient: [Double], epsilon: Double = 1e-5)
        -> (input: [Double], gamma: [Double], beta: [Double]) {
        precondition(input.count == shape.count && outputGradient.count == shape.count)
        let n = Double(shape.perChannel)
        var dInput = [Double](repeating: 0, count: shape.count)
        var dGamma = [Double](repeating: 0, count: shape.channels)
        var dBeta = [Double](repeating: 0, count: shape.channels)
        for c in 0..<shape.channels {
            let values = channel(c, of: input, shape), dy = channel(c, of: outputGradient, shape)
            let mean = values.reduce(0, +) / n
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n
            let deviation = sqrt(variance + epsilon)
            let normalized = values.map { ($0 - mean) / deviation }
            // Through the ReLU: the gradient passes where its output was positive.
            let g = (0..<values.count).map { gamma[c] * normalized[$0] + beta[c] > 0 ? dy[$0] : 0 }
            dBeta[c] = g.reduce(0, +)
            dGamma[c] = zip(g, normalized).map(*).reduce(0, +)
            for i in 0..<values.count {
                dInput[c * shape.perChannel + i] = gamma[c] / deviation * (g[i] - dBeta[c] / n - normalized[i] * dGamma[c] / n)
            }
        }
        return (dInput, dGamma, dBeta)
    }

    private static func channel(_ c: Int, of values: [Double], _ shape: CNHWShape) -> [Double] {
        Array(values[(c * shape.perChannel)..<((c + 1) * shape.perChannel)])
    }
}
