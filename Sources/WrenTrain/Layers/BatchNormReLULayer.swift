/// Batch normalization followed by ReLU over a CNHW batch, the pre-activation unit of a WRN
/// (bn1 + relu1, bn2 + relu2, and the final bn + relu all come in this pair), fused so the
/// activation is read and written once per pass.
///
/// Training forward, per channel c over its `N·H·W` values (PyTorch's `BatchNorm2d` in train mode):
///
///     mean = Σx / n,  variance = Σ(x − mean)² / n   (two passes, accumulated in Double; biased)
///     y = max(0, x·α + β′)  with α = γ / sqrt(variance + ε),  β′ = β − mean·α
///     runningMean     = 0.9·runningMean     + 0.1·mean
///     runningVariance = 0.9·runningVariance + 0.1·variance·n/(n − 1)      (unbiased)
///     numBatchesTracked += 1
///
/// Backward, with g = dy where the output is positive and 0 elsewhere, x̂ = (x − mean)/σ:
///
///     dβ = Σg,  dγ = Σ g·x̂,  dx = (γ/σ)·(g − dβ/n − x̂·dγ/n)
///
/// The layer owns γ, β, their gradients, the running statistics and the per-channel values the
/// last training forward computed. The caller owns input, output and gradients, sized for
/// `maxBatch`. `backward` reads the forward's input again (the convolution output before it, which
/// the caller keeps anyway) instead of a saved copy; the output may therefore not alias the input.
/// The team splits the channels, so results are bit-identical for any team size.
public final class BatchNormReLULayer {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let maxBatch: Int
    public let epsilon: Double
    /// PyTorch's meaning: the weight of the new batch's statistic.
    public let momentum: Double
    public let team: ThreadTeam

    /// γ, initialized to 1.
    public let weight: TrainingBuffer
    /// β, initialized to 0.
    public let bias: TrainingBuffer
    public let weightGradient: TrainingBuffer
    public let biasGradient: TrainingBuffer
    /// Initialized to 0 and 1, as PyTorch's.
    public let runningMean: TrainingBuffer
    public let runningVariance: TrainingBuffer
    /// Training forwards so far (PyTorch's `num_batches_tracked`); settable for checkpoints.
    public var numBatchesTracked: Int = 0

    /// What the last training forward computed per channel, for backward: the batch mean and
    /// 1/σ in Double, and the Float affine pair it applied (backward recomputes the ReLU mask from
    /// exactly these, so it matches the forward's bit for bit).
    private let savedMean: UnsafeMutableBufferPointer<Double>
    private let savedInverseDeviation: UnsafeMutableBufferPointer<Double>
    private let savedScale: UnsafeMutableBufferPointer<Float>
    private let savedShift: UnsafeMutableBufferPointer<Float>

    public init(channels: Int, height: Int, width: Int, maxBatch: Int,
                epsilon: Double = 1e-5, momentum: Double = 0.1, team: ThreadTeam = .single) throws(TrainingError) {
        guard channels > 0, height > 0, width > 0, maxBatch > 0 else {
            throw .invalidConfiguration("batch norm over \(channels) channels of \(height)x\(width) at batch \(maxBatch)")
        }
        guard epsilon > 0, epsilon.isFinite, momentum >= 0, momentum <= 1 else {
            throw .invalidConfiguration("batch norm epsilon \(epsilon) (must be positive) and momentum \(momentum) (in 0...1)")
        }
        self.channels = channels
        self.height = height
        self.width = width
        self.maxBatch = maxBatch
        self.epsilon = epsilon
        self.momentum = momentum
        self.team = team
        weight = TrainingBuffer([Float](repeating: 1, count: channels))
        bias = TrainingBuffer(count: channels)
        weightGradient = TrainingBuffer(count: channels)
        biasGradient = TrainingBuffer(count: channels)
        runningMean = TrainingBuffer(count: channels)
        runningVariance = TrainingBuffer([Float](repeating: 1, count: channels))
        savedMean = .allocate(capacity: channels)
        savedMean.initialize(repeating: 0)
        savedInverseDeviation = .allocate(capacity: channels)
        savedInverseDeviation.initialize(repeating: 0)
        savedScale = .allocate(capacity: channels)
        savedScale.initialize(repeating: 0)
        savedShift = .allocate(capacity: channels)
        savedShift.initialize(repeating: 0)
    }

    deinit {
        savedMean.deallocate()
        savedInverseDeviation.deallocate()
        savedScale.deallocate()
        savedShift.deallocate()
    }

    public func shape(batch: Int) -> CNHWShape { CNHWShape(channels: channels, batch: batch, height: height, width: width) }

    /// "weight" (γ) and "bias" (β).
    public var parameters: [TrainableParameter] {
        [TrainableParameter(name: "weight", value: weight, gradient: weightGradient),
         TrainableParameter(name: "bias", value: bias, gradient: biasGradient)]
    }

    /// Normalizes with this batch's statistics, applies ReLU, updates the running statistics and
    /// keeps what `backward` needs. A channel needs at least 2 values (batch·height·width ≥ 2), as
    /// in PyTorch, for the unbiased variance.
    public func forwardTraining(input: UnsafeBufferPointer<Float>, batch: Int, output: UnsafeMutableBufferPointer<Float>) {
        let shape = check(batch: batch, input.count, output.count)
        let count = shape.perChannel
        precondition(count > 1, "batch norm in training needs more than one value per channel, got \(shape)")
        team.run({ call, member in
            let call = call.assumingMemoryBound(to: Call.self).pointee
            for channel in call.layer.team.share(of: call.layer.channels, member: member) {
                let offset = channel * call.count
                call.layer.trainChannel(channel, call.input + offset, count: call.count, output: call.output + offset)
            }
        }, with: Call(layer: self, count: count, input: input.baseAddress!, output: output.baseAddress!))
        numBatchesTracked += 1
    }

    private func trainChannel(_ channel: Int, _ x: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>) {
        let n = Double(count)
        let mean = doubleSum(x, count: count) / n
        let squaredDeviations = doubleSumOfSquaredDeviations(x, count: count, center: mean)
        let variance = squaredDeviations / n
        let inverseDeviation = 1 / (variance + epsilon).squareRoot()
        let gamma = Double(weight.values[channel]), beta = Double(bias.values[channel])
        let scale = Float(gamma * inverseDeviation), shift = Float(beta - mean * gamma * inverseDeviation)
        savedMean[channel] = mean
        savedInverseDeviation[channel] = inverseDeviation
        savedScale[channel] = scale
        savedShift[channel] = shift
        normalizeReLU(x, count: count, scale: scale, shift: shift, into: output)

        let unbiased = squaredDeviations / (n - 1)
        runningMean.values[channel] = Float((1 - momentum) * Double(runningMean.values[channel]) + momentum * mean)
        runningVariance.values[channel] = Float((1 - momentum) * Double(runningVariance.values[channel]) + momentum * unbiased)
    }

    /// Normalizes with the running statistics (evaluation): `max(0, x·α + β′)` with
    /// α = γ / sqrt(runningVariance + ε), β′ = β − runningMean·α. Changes no state.
    public func forwardEvaluation(input: UnsafeBufferPointer<Float>, batch: Int, output: UnsafeMutableBufferPointer<Float>) {
        let shape = check(batch: batch, input.count, output.count)
        let count = shape.perChannel
        team.run({ call, member in
            let call = call.assumingMemoryBound(to: Call.self).pointee
            for channel in call.layer.team.share(of: call.layer.channels, member: member) {
                let offset = channel * call.count
                call.layer.evaluateChannel(channel, call.input + offset, count: call.count, output: call.output + offset)
            }
        }, with: Call(layer: self, count: count, input: input.baseAddress!, output: output.baseAddress!))
    }

    private func evaluateChannel(_ channel: Int, _ x: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>) {
        let inverseDeviation = 1 / (Double(runningVariance.values[channel]) + epsilon).squareRoot()
        let gamma = Double(weight.values[channel]), beta = Double(bias.values[channel])
        let scale = gamma * inverseDeviation
        normalizeReLU(x, count: count, scale: Float(scale), shift: Float(beta - Double(runningMean.values[channel]) * scale), into: output)
    }

    /// Gradients through ReLU and the batch normalization of the last `forwardTraining`, whose
    /// `input` (and batch) must be passed again. Overwrites `weightGradient` and `biasGradient`;
    /// writes `inputGradient`, or adds to it with `accumulating` (where the block input's gradient
    /// also receives the identity shortcut's). `outputGradient` may be the same memory as
    /// `inputGradient` (each value is read before it is written).
    public func backward(input: UnsafeBufferPointer<Float>, outputGradient: UnsafeBufferPointer<Float>, batch: Int,
                         inputGradient: UnsafeMutableBufferPointer<Float>, accumulating: Bool = false) {
        let shape = check(batch: batch, input.count, inputGradient.count)
        precondition(outputGradient.count >= shape.count, "batch norm backward at \(shape): output gradient holds \(outputGradient.count)")
        let count = shape.perChannel
        team.run({ call, member in
            let call = call.assumingMemoryBound(to: Call.self).pointee
            for channel in call.layer.team.share(of: call.layer.channels, member: member) {
                let offset = channel * call.count
                call.layer.backwardChannel(channel, call.input + offset, call.outputGradient! + offset, count: call.count,
                                           inputGradient: call.output + offset, accumulating: call.accumulating)
            }
        }, with: Call(layer: self, count: count, input: input.baseAddress!, output: inputGradient.baseAddress!,
                      outputGradient: outputGradient.baseAddress!, accumulating: accumulating))
    }

    /// One call, as each team member reads it.
    private struct Call {
        let layer: BatchNormReLULayer
        /// Values per channel.
        let count: Int
        let input: UnsafePointer<Float>
        /// The output (forward) or the input gradient (backward).
        let output: UnsafeMutablePointer<Float>
        var outputGradient: UnsafePointer<Float>? = nil
        var accumulating = false
    }

    private func backwardChannel(_ channel: Int, _ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, count: Int,
                                 inputGradient: UnsafeMutablePointer<Float>, accumulating: Bool) {
        let n = Double(count)
        let mean = savedMean[channel], inverseDeviation = savedInverseDeviation[channel]
        let scale = savedScale[channel], shift = savedShift[channel]
        let (sumG, sumGCentered) = maskedGradientSums(x, dy, count: count, scale: scale, shift: shift, mean: mean)
        let gamma = Double(weight.values[channel])
        weightGradient.values[channel] = Float(sumGCentered * inverseDeviation)
        biasGradient.values[channel] = Float(sumG)
        normalizationBackward(x, dy, count: count, scale: scale, shift: shift,
                              mean: Float(mean), meanGradient: Float(sumG / n),
                              centeredCoefficient: Float(sumGCentered * inverseDeviation * inverseDeviation / n),
                              outputScale: Float(gamma * inverseDeviation),
                              into: inputGradient, accumulating: accumulating)
    }

    private func check(batch: Int, _ inputCount: Int, _ outputCount: Int) -> CNHWShape {
        let shape = shape(batch: batch)
        precondition(batch > 0 && batch <= maxBatch, "batch norm \(shape): batch sized for 1...\(maxBatch)")
        precondition(inputCount >= shape.count && outputCount >= shape.count,
                     "batch norm \(shape): buffers of \(inputCount) and \(outputCount) values")
        return shape
    }
}

/// `y = max(0, x·scale + shift)`: a multiply and an add, not a fused multiply-add, as PyTorch's
/// vectorized CPU kernel computes it before its separate ReLU.
private func normalizeReLU(_ x: UnsafePointer<Float>, count: Int, scale: Float, shift: Float,
                           into y: UnsafeMutablePointer<Float>) {
    let scaleVector = SIMD16<Float>(repeating: scale), shiftVector = SIMD16<Float>(repeating: shift)
    var index = 0
    while index + 16 <= count {
        let pre = loadVector(x, index) * scaleVector + shiftVector
        storeVector(pre.replacing(with: 0, where: pre .< 0), y, index)
        index += 16
    }
    while index < count {
        let pre = x[index] * scale + shift
        y[index] = pre < 0 ? 0 : pre
        index += 1
    }
}

/// Σg and Σ g·(x − mean) in Double, where g is dy wherever the forward's output was positive.
private func maskedGradientSums(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, count: Int,
                                scale: Float, shift: Float, mean: Double) -> (Double, Double) {
    let scaleVector = SIMD16<Float>(repeating: scale), shiftVector = SIMD16<Float>(repeating: shift)
    let meanVector = SIMD8<Double>(repeating: mean)
    var sumLow = SIMD8<Double>(), sumHigh = SIMD8<Double>()
    var centeredLow = SIMD8<Double>(), centeredHigh = SIMD8<Double>()
    var index = 0
    while index + 16 <= count {
        let xv = loadVector(x, index)
        let pre = xv * scaleVector + shiftVector
        let g = loadVector(dy, index).replacing(with: 0, where: .!(pre .> 0))
        let gLow = SIMD8<Double>(g.lowHalf), gHigh = SIMD8<Double>(g.highHalf)
        sumLow += gLow
        sumHigh += gHigh
        centeredLow += gLow * (SIMD8<Double>(xv.lowHalf) - meanVector)
        centeredHigh += gHigh * (SIMD8<Double>(xv.highHalf) - meanVector)
        index += 16
    }
    var sum = (sumLow + sumHigh).sum(), centered = (centeredLow + centeredHigh).sum()
    while index < count {
        if x[index] * scale + shift > 0 {
            let g = Double(dy[index])
            sum += g
            centered += g * (Double(x[index]) - mean)
        }
        index += 1
    }
    return (sum, centered)
}

/// `dx = (g − meanGradient − (x − mean)·centeredCoefficient)·outputScale`, written or added.
private func normalizationBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, count: Int,
                                   scale: Float, shift: Float, mean: Float, meanGradient: Float,
                                   centeredCoefficient: Float, outputScale: Float,
                                   into dx: UnsafeMutablePointer<Float>, accumulating: Bool) {
    let scaleVector = SIMD16<Float>(repeating: scale), shiftVector = SIMD16<Float>(repeating: shift)
    let meanVector = SIMD16<Float>(repeating: mean), meanGradientVector = SIMD16<Float>(repeating: meanGradient)
    let coefficientVector = SIMD16<Float>(repeating: centeredCoefficient), outputScaleVector = SIMD16<Float>(repeating: outputScale)
    var index = 0
    while index + 16 <= count {
        let xv = loadVector(x, index)
        let pre = xv * scaleVector + shiftVector
        let g = loadVector(dy, index).replacing(with: 0, where: .!(pre .> 0))
        var result = (g - meanGradientVector - (xv - meanVector) * coefficientVector) * outputScaleVector
        if accumulating { result += loadVector(dx, index) }
        storeVector(result, dx, index)
        index += 16
    }
    while index < count {
        let g: Float = x[index] * scale + shift > 0 ? dy[index] : 0
        let result = (g - meanGradient - (x[index] - mean) * centeredCoefficient) * outputScale
        dx[index] = accumulating ? dx[index] + result : result
        index += 1
    }
}
