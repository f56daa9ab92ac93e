import WrenNetwork

/// Eval-mode batch normalization followed by ReLU, the pre-activation unit of a WRN.
extension BatchNorm {
    /// `max(0, scale[c] * x + shift[c])`, the affine form computed in Double and rounded once to Float
    /// (PyTorch's CPU kernel evaluates BN in the same `x * alpha + beta` form).
    func applyReLU(to input: FeatureMap, into output: inout FeatureMap) {
        let shape = input.shape
        precondition(shape.channels == channels, "batch norm over \(channels) channels applied to \(shape)")
        output.resize(to: shape)
        let (scale, shift) = affine()
        let plane = shape.height * shape.width
        input.values.withUnsafeBufferPointer { source in
            output.values.withUnsafeMutableBufferPointer { destination in
                for image in 0..<shape.batch {
                    for channel in 0..<shape.channels {
                        let s = Float(scale[channel]), b = Float(shift[channel])
                        let start = (image * shape.channels + channel) * plane
                        for index in start..<(start + plane) {
                            destination[index] = max(0, source[index] * s + b)
                        }
                    }
                }
            }
        }
    }

    /// The same, in place.
    func applyReLU(inPlace map: inout FeatureMap) {
        let shape = map.shape
        precondition(shape.channels == channels, "batch norm over \(channels) channels applied to \(shape)")
        let (scale, shift) = affine()
        let plane = shape.height * shape.width
        map.values.withUnsafeMutableBufferPointer { values in
            for image in 0..<shape.batch {
                for channel in 0..<shape.channels {
                    let s = Float(scale[channel]), b = Float(shift[channel])
                    let start = (image * shape.channels + channel) * plane
                    for index in start..<(start + plane) {
                        values[index] = max(0, values[index] * s + b)
                    }
                }
            }
        }
    }
}
