/// Global average pool of one int8 NHWC image, then the float32 classifier.
///
/// feature[c] = (Float(Σ_{hw} (x - zx)) · scale) / Float(H·W)       (int32 sum, float32 ops in this order)
/// logit[k]   = (Σ_c weights[k][c] · feature[c], summed in c order from 0) + bias[k]
/// The order of float operations is part of the format, so every implementation gets the same bits.
public func s8AveragePoolF32Linear(
    pixels: Int,
    channels: Int,
    classes: Int,
    input: UnsafePointer<Int8>,
    inputZeroPoint: Int32,
    inputScale: Float,
    weights: UnsafePointer<Float>,
    bias: UnsafePointer<Float>,
    features: UnsafeMutablePointer<Float>,
    logits: UnsafeMutablePointer<Float>
) {
    for c in 0..<channels {
        var sum: Int32 = 0
        for pixel in 0..<pixels { sum &+= Int32(input[pixel * channels + c]) - inputZeroPoint }
        features[c] = (Float(sum) * inputScale) / Float(pixels)
    }
    for k in 0..<classes {
        let row = weights + k * channels
        var acc: Float = 0
        for c in 0..<channels { acc += row[c] * features[c] }
        logits[k] = acc + bias[k]
    }
}
