#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Softmax cross-entropy over logits `[N, classes]`, averaged over the batch, with optional label
/// smoothing ε in PyTorch's sense (`nn.CrossEntropyLoss(label_smoothing: ε)`):
///
///     loss = mean over images of (1 − ε)·(−log p[label]) + ε·mean over classes of (−log p[k])
///     dLogits[n, k] = (p[k] − (1 − ε)·[k = label] − ε/classes) / N
///
/// with log p = z − logsumexp(z) computed in Double around the largest logit, so no exp overflows.
/// Stateless apart from its settings; the caller owns logits, labels and the gradient buffer.
public struct SoftmaxCrossEntropyLoss: Sendable {
    public let classes: Int
    public let labelSmoothing: Double

    public init(classes: Int, labelSmoothing: Double = 0) throws(TrainingError) {
        guard classes > 0 else { throw .invalidConfiguration("cross-entropy over \(classes) classes") }
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw .invalidConfiguration("label smoothing \(labelSmoothing): must be in 0...1")
        }
        self.classes = classes
        self.labelSmoothing = labelSmoothing
    }

    public struct Result: Sendable, Equatable {
        /// The batch mean.
        public let loss: Double
        /// Images whose largest logit (the first, on ties) is at their label.
        public let correct: Int
    }

    /// The loss and correct count for `batch` images, and with `logitGradient` the loss's gradient
    /// with respect to the logits (evaluation passes nil). Throws for a label outside 0..<classes,
    /// before writing anything.
    public func evaluate(logits: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int>, batch: Int,
                         logitGradient: UnsafeMutableBufferPointer<Float>?) throws(TrainingError) -> Result {
        precondition(batch > 0 && logits.count >= batch * classes && labels.count >= batch
                         && (logitGradient?.count ?? logits.count) >= batch * classes,
                     "cross-entropy over \(batch) images of \(classes) classes: logits \(logits.count), "
                         + "labels \(labels.count), gradient \(logitGradient?.count ?? 0) values")
        for image in 0..<batch where !(0..<classes).contains(labels[image]) {
            throw .invalidData("label \(labels[image]) of image \(image) in the batch is outside 0..<\(classes)")
        }
        let epsilon = labelSmoothing
        let inverseBatch = 1 / Double(batch)
        var total = 0.0
        var correct = 0
        for image in 0..<batch {
            let z = logits.baseAddress! + image * classes
            let label = labels[image]
            var largest = 0
            for k in 1..<classes where z[k] > z[largest] { largest = k }
            if largest == label { correct += 1 }
            let top = Double(z[largest])
            var sumExp = 0.0, sumLogits = 0.0
            for k in 0..<classes {
                sumExp += exp(Double(z[k]) - top)
                sumLogits += Double(z[k])
            }
            let logSumExp = top + log(sumExp)
            let negativeLogLikelihood = logSumExp - Double(z[label])
            let smoothing = logSumExp - sumLogits / Double(classes)
            total += (1 - epsilon) * negativeLogLikelihood + epsilon * smoothing
            if let logitGradient {
                let dz = logitGradient.baseAddress! + image * classes
                let uniform = epsilon / Double(classes)
                for k in 0..<classes {
                    let probability = exp(Double(z[k]) - logSumExp)
                    let target = (k == label ? 1 - epsilon : 0) + uniform
                    dz[k] = Float((probability - target) * inverseBatch)
                }
            }
        }
        return Result(loss: total * inverseBatch, correct: correct)
    }
}
