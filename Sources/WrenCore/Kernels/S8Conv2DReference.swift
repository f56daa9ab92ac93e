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
            // Gather the receptive field as (x - zx), zero for padding taps.
            var k = 0
            for ky in 0..<p.kernelSize {
                let iy = oy * p.stride + ky - p.padding
                for kx in 0..<p.kernelSize {
                    let ix = ox * p.stride + kx - p.padding
                    if iy >= 0 && iy < p.inHeight && ix >= 0 && ix < p.inWidth {
                        let row = input + (iy * p.inWidth + ix) * p.inChannels
                        for i in 0..<p.inChannels { patch[k + i] = Int32(row[i]) - p.inputZeroPoint }
                    } else {
                        for i in 0..<p.inChannels { patch[k + i] = 0 }
                    }
                    k += p.inChannels
                }
            }
            let pixel = oy * p.outWidth + ox
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
