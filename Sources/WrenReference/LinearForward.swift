import CBLAS
import WrenNetwork

extension Linear {
    /// `y = x · Wᵀ + b` for a batch of row vectors `x: [batch, inFeatures]`; returns `[batch, outFeatures]`.
    ///
    /// One `sgemv` per image, never one GEMM over the batch: OpenBLAS picks its kernel and blocking
    /// by matrix shape and CPU, so a `[batch, in] × [in, out]` GEMM rounds an image's logits
    /// differently from the `[1, in]` one (seen on Intel Xeons). Every image goes through the same
    /// call as it would alone, which is what makes the reference's results independent of the batch.
    func apply(to input: [Float], batch: Int) -> [Float] {
        precondition(input.count == batch * inFeatures, "linear over \(inFeatures) features given \(input.count) values for batch \(batch)")
        var output = [Float](repeating: 0, count: batch * outFeatures)
        input.withUnsafeBufferPointer { x in
            weight.data.withUnsafeBufferPointer { w in
                output.withUnsafeMutableBufferPointer { y in
                    for row in 0..<batch {
                        let logits = y.baseAddress! + row * outFeatures
                        for column in 0..<outFeatures { logits[column] = bias[column] }
                        cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outFeatures), Int32(inFeatures),
                                    1, w.baseAddress!, Int32(inFeatures),
                                    x.baseAddress! + row * inFeatures, 1,
                                    1, logits, 1)
                    }
                }
            }
        }
        return output
    }
}
