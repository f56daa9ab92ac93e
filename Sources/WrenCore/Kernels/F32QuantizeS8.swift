/// Quantizes one float32 NCHW image into int8 NHWC: q = clamp(round_half_even(x / scale) + zp, -128, 127).
/// The caller has checked every value is finite.
public func f32QuantizeS8(
    channels: Int,
    pixels: Int,
    input: UnsafePointer<Float>,
    scale: Float,
    zeroPoint: Int32,
    output: UnsafeMutablePointer<Int8>
) {
    for c in 0..<channels {
        let plane = input + c * pixels
        for pixel in 0..<pixels {
            // Clamp in float first so a huge value cannot trap the Int32 conversion.
            let scaled = min(max((plane[pixel] / scale).rounded(.toNearestOrEven), -512), 512)
            let q = Int32(scaled) + zeroPoint
            output[pixel * channels + c] = Int8(min(max(q, -128), 127))
        }
    }
}
