/// int8 convolution, scalar reference: the naive definition every faster kernel must match bit for bit.
///
/// acc[o] = bias[o] + Σ_{ky,kx,i} w[o][ky][kx][i] · (x[oy·s+ky-p][ox·s+kx-p][i] - zx)
/// with `weights` in the packed layout of `PackedConvWeights`.
/// Taps outside the input are padding with the input's zero point, so they contribute nothing.
/// out = requantizeS8(acc, multiplier[o], shift[o], residual - zr, ...)
public func s8Conv2DReference(
    _ p: Conv2DParameters,
    input: UnsafePointer<Int8>,
    weights: UnsafePointer<Int8>,
    bias: UnsafePointer<Int32>,
    multipliers: UnsafePointer<Int32>,
    shifts: UnsafePointer<Int32>,
    residual: UnsafePointer<Int8>?,
    output: UnsafeMutablePointer<Int8>,
    patch: UnsafeMutablePointer<Int32>
) {
    let depth = p.depth
    let paddedDepth = PackedConvWeights.paddedDepth(depth)
    for oy in 0..<p.outHeight {
        for ox in 0..<p.outWidth {
            let pixel = oy * p.outWidth + ox
            // The receptive field as (x - zx), zero for padding taps.
            p.forEachTap(ofPixel: pixel) { k, index in patch[k] = index.map { Int32(input[$0]) - p.inputZeroPoint } ?? 0 }
            let out = output + pixel * p.outChannels
            let res = residual.map { $0 + pixel * p.outChannels }
            for o in 0..<p.outChannels {
                var acc = bias[o]
                for j in 0..<depth {
                    acc &+= Int32(weights[PackedConvWeights.index(channel: o, depth: j, paddedDepth: paddedDepth)]) &* patch[j]
                }
                out[o] = requantizeS8(
                    accumulator: acc, multiplier: multipliers[o], rightShift: shifts[o],
                    residual: res.map { Int32($0[o]) - p.residualZeroPoint }, residualMultiplier: p.residualMultiplier,
                    outputZeroPoint: p.outputZeroPoint, relu: p.relu, fractionBits: p.fractionBits)
            }
        }
    }
}
