/// Per-channel affine + optional ReLU on int8 NHWC data: the batch-norms of a pre-activation WRN
/// that follow a residual addition and so cannot fold into a convolution.
///
/// out = clamp(zo + RDBPOT(offset[c] + MBQM(x - zx, multiplier[c], shift[c]), F), relu ? zo : -128, 127)
/// with F = `fractionBits` (0: no rounding; rule 2: 8, multipliers and offsets scaled by 2^8).
///
/// `pixelStride` (default `channels`) is the distance between pixels, so that `channels` may be
/// the last channels of wider pixels (vector kernels finish a partial channel block with this).
public func s8ChannelAffineReLUReference(
    pixels: Int,
    channels: Int,
    pixelStride: Int? = nil,
    input: UnsafePointer<Int8>,
    inputZeroPoint: Int32,
    offsets: UnsafePointer<Int32>,
    multipliers: UnsafePointer<Int32>,
    shifts: UnsafePointer<Int32>,
    output: UnsafeMutablePointer<Int8>,
    outputZeroPoint: Int32,
    relu: Bool,
    fractionBits: Int32 = 0
) {
    let low: Int64 = relu ? max(Int64(outputZeroPoint), -128) : -128
    let stride = pixelStride ?? channels
    for pixel in 0..<pixels {
        let x = input + pixel * stride
        let y = output + pixel * stride
        for c in 0..<channels {
            let scaled = multiplyByQuantizedMultiplier(Int32(x[c]) - inputZeroPoint, multipliers[c], shifts[c])
            let value = roundedAwayFraction(Int64(scaled) + Int64(offsets[c]), fractionBits) + Int64(outputZeroPoint)
            y[c] = Int8(min(max(value, low), 127))
        }
    }
}
