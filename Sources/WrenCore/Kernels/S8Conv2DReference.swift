/// int8 convolution, scalar reference: the naive definition every faster kernel must match bit for bit.
///
/// acc[o] = bias[o] + Σ_{ky,kx,i} w[o][ky][kx][i] · (x[oy·s+ky-p][ox·s+kx-p][i] - zx)
/// with `weights` in the packed layout of `PackedConvWeights`.
/// Taps outside the input are padding with the input's zero point, so they contribute nothing.
/// out = requantizeS8(acc, multiplier[o], shift[o], residual - zr, ...)
/// for the output pixels `pixels` (all of them by default) of one NHWC image.
public func s8Conv2DReference(
    _ p: Conv2DParameters,
    input: UnsafePointer<Int8>,
    weights: UnsafePointer<Int8>,
    bias: UnsafePointer<Int32>,
    multipliers: UnsafePointer<Int32>,
    shifts: UnsafePointer<Int32>,
    residual: UnsafePointer<Int8>?,
    output: UnsafeMutablePointer<Int8>,
    patch: UnsafeMutablePointer<Int32>,
    pixels: Range<Int>? = nil
) {
    let depth = p.depth
    let paddedDepth = PackedConvWeights.paddedDepth(depth)
    for pixel in pixels ?? 0..<(p.outHeight * p.outWidth) {
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

/// The same reference on a tile: `KernelTable.reference`'s entry. It recovers the plain bias from
/// the tile's `unsignedInputBias` (+ (zx + 128)·Σw) and so allocates: a reference, not for production.
/// Its patch is the tile's scratch.
public func s8Conv2DReference(_ tile: S8Conv2DTile) {
    let p = tile.parameters
    var bias = [Int32](repeating: 0, count: p.outChannels)
    for o in 0..<p.outChannels {
        var weightSum: Int32 = 0
        for j in 0..<p.depth {
            weightSum &+= Int32(tile.weights[PackedConvWeights.index(channel: o, depth: j, paddedDepth: tile.paddedDepth)])
        }
        bias[o] = tile.unsignedInputBias[o] &+ (p.inputZeroPoint &+ 128) &* weightSum
    }
    bias.withUnsafeBufferPointer { bias in
        s8Conv2DReference(
            p, input: tile.input, weights: tile.weights, bias: bias.baseAddress!, multipliers: tile.multipliers,
            shifts: tile.shifts, residual: tile.residual, output: tile.output,
            patch: tile.scratch.assumingMemoryBound(to: Int32.self), pixels: tile.firstPixel..<(tile.firstPixel + tile.pixelCount))
    }
}
