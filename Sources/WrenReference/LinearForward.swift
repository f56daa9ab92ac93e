import CBLAS

extension Linear {
    /// `y = x · Wᵀ + b` for a batch of row vectors `x: [batch, inFeatures]`; returns `[batch, outFeatures]`.
    func apply(to input: [Float], batch: Int) -> [Float] {
        precondition(input.count == batch * inFeatures, "linear over \(inFeatures) features given \(input.count) values for batch \(batch)")
        var output = [Float](repeating: 0, count: batch * outFeatures)
        for row in 0..<batch {
            for column in 0..<outFeatures { output[row * outFeatures + column] = bias[column] }
        }
        input.withUnsafeBufferPointer { x in
            weight.data.withUnsafeBufferPointer { w in
                output.withUnsafeMutableBufferPointer { y in
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                                Int32(batch), Int32(outFeatures), Int32(inFeatures),
                                1, x.baseAddress!, Int32(inFeatures),
                                w.baseAddress!, Int32(inFeatures),
                                1, y.baseAddress!, Int32(outFeatures))
                }
            }
        }
        return output
    }
}
