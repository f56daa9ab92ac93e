import CBLAS

/// A fully connected layer, `y[N, out] = x · weightᵀ + bias`, with the weight in PyTorch's
/// `[out, in]` layout, forward and backward through `cblas_sgemm`:
///
///     dWeight = dyᵀ · x,   dBias = Σₙ dy,   dx = dy · weight      (all overwritten)
///
/// The input may be batch-major `[N, in]` or feature-major `[in, N]` (what global average pooling
/// over CNHW produces), chosen at setup; its gradient has the same layout. The output and its
/// gradient are always `[N, out]`. The layer owns its parameters and their gradients; the caller
/// owns the activations, sized for `maxBatch`.
public final class LinearLayer {
    public enum InputLayout: Sendable, Equatable {
        /// `[N, in]`, PyTorch's.
        case batchMajor
        /// `[in, N]`.
        case featureMajor
    }

    public let inFeatures: Int
    public let outFeatures: Int
    public let maxBatch: Int
    public let inputLayout: InputLayout
    public let weight: TrainingBuffer
    public let bias: TrainingBuffer
    public let weightGradient: TrainingBuffer
    public let biasGradient: TrainingBuffer

    public init(inFeatures: Int, outFeatures: Int, maxBatch: Int, inputLayout: InputLayout) throws(TrainingError) {
        guard inFeatures > 0, outFeatures > 0, maxBatch > 0,
              !inFeatures.multipliedReportingOverflow(by: max(outFeatures, maxBatch)).overflow,
              inFeatures * max(outFeatures, maxBatch) <= Int(Int32.max) else {
            throw .invalidConfiguration("linear \(inFeatures)→\(outFeatures) at batch \(maxBatch)")
        }
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.maxBatch = maxBatch
        self.inputLayout = inputLayout
        weight = TrainingBuffer(count: outFeatures * inFeatures)
        bias = TrainingBuffer(count: outFeatures)
        weightGradient = TrainingBuffer(count: outFeatures * inFeatures)
        biasGradient = TrainingBuffer(count: outFeatures)
    }

    /// "weight" and "bias".
    public var parameters: [TrainableParameter] {
        [TrainableParameter(name: "weight", value: weight, gradient: weightGradient),
         TrainableParameter(name: "bias", value: bias, gradient: biasGradient)]
    }

    /// Leading dimension and transpose flag of the input read as the `[N, in]` matrix.
    private func inputOperand(batch: Int) -> (CBLAS_TRANSPOSE, Int32) {
        inputLayout == .batchMajor ? (CblasNoTrans, Int32(inFeatures)) : (CblasTrans, Int32(batch))
    }

    public func forward(input: UnsafeBufferPointer<Float>, batch: Int, output: UnsafeMutableBufferPointer<Float>) {
        check(batch: batch, input.count, output.count)
        let (transposeInput, inputStride) = inputOperand(batch: batch)
        cblas_sgemm(CblasRowMajor, transposeInput, CblasTrans,
                    Int32(batch), Int32(outFeatures), Int32(inFeatures),
                    1, input.baseAddress!, inputStride,
                    weight.values.baseAddress!, Int32(inFeatures),
                    0, output.baseAddress!, Int32(outFeatures))
        for image in 0..<batch {
            let row = output.baseAddress! + image * outFeatures
            for feature in 0..<outFeatures { row[feature] += bias.values[feature] }
        }
    }

    /// Gradients for the `input` of the last forward (passed again). Skips the input gradient when
    /// it is nil.
    public func backward(input: UnsafeBufferPointer<Float>, outputGradient: UnsafeBufferPointer<Float>, batch: Int,
                         inputGradient: UnsafeMutableBufferPointer<Float>?) {
        check(batch: batch, input.count, outputGradient.count)
        precondition((inputGradient?.count ?? input.count) >= batch * inFeatures,
                     "linear \(inFeatures)→\(outFeatures) at batch \(batch): input gradient holds \(inputGradient?.count ?? 0)")
        let dy = outputGradient.baseAddress!
        for feature in 0..<outFeatures {
            var sum = 0.0
            for image in 0..<batch { sum += Double(dy[image * outFeatures + feature]) }
            biasGradient.values[feature] = Float(sum)
        }
        // dWeight[out, in] = dyᵀ[out, N] · x[N, in].
        let (transposeInput, inputStride) = inputOperand(batch: batch)
        cblas_sgemm(CblasRowMajor, CblasTrans, transposeInput,
                    Int32(outFeatures), Int32(inFeatures), Int32(batch),
                    1, dy, Int32(outFeatures),
                    input.baseAddress!, inputStride,
                    0, weightGradient.values.baseAddress!, Int32(inFeatures))
        guard let inputGradient else { return }
        switch inputLayout {
        case .batchMajor:  // dx[N, in] = dy[N, out] · weight[out, in]
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                        Int32(batch), Int32(inFeatures), Int32(outFeatures),
                        1, dy, Int32(outFeatures),
                        weight.values.baseAddress!, Int32(inFeatures),
                        0, inputGradient.baseAddress!, Int32(inFeatures))
        case .featureMajor:  // dx[in, N] = weightᵀ[in, out] · dyᵀ[out, N]
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans,
                        Int32(inFeatures), Int32(batch), Int32(outFeatures),
                        1, weight.values.baseAddress!, Int32(inFeatures),
                        dy, Int32(outFeatures),
                        0, inputGradient.baseAddress!, Int32(batch))
        }
    }

    private func check(batch: Int, _ inputCount: Int, _ outputCount: Int) {
        precondition(batch > 0 && batch <= maxBatch && inputCount >= batch * inFeatures && outputCount >= batch * outFeatures,
                     "linear \(inFeatures)→\(outFeatures) at batch \(batch) (sized for \(maxBatch)): "
                         + "buffers of \(inputCount) and \(outputCount) values")
    }
}
