import WrenNetwork

/// Mean over each channel's H×W plane: `[N, C, H, W]` → `[N, C, 1, 1]`.
func globalAveragePool(_ input: FeatureMap, into output: inout FeatureMap) {
    let shape = input.shape
    output.resize(to: ActivationShape(batch: shape.batch, channels: shape.channels, height: 1, width: 1))
    let plane = shape.height * shape.width
    input.values.withUnsafeBufferPointer { source in
        for planeIndex in 0..<(shape.batch * shape.channels) {
            // Summed in Double so the mean does not depend on the plane's size.
            var sum = 0.0
            for value in source[(planeIndex * plane)..<((planeIndex + 1) * plane)] { sum += Double(value) }
            output.values[planeIndex] = Float(sum / Double(plane))
        }
    }
}
