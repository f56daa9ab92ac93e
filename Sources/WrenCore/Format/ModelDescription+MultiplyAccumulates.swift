extension ModelDescription {
    /// Multiply-accumulates of one image through the model, counting padding taps too; saturates at
    /// `Int.max` rather than trapping for a (validated but) enormous description. The fuzzers use it
    /// to skip models too slow to run within their time limit.
    public var multiplyAccumulates: Int {
        var total = 0
        for layer in layers {
            let input = tensors[layer.input]
            let work: Int
            switch layer.op {
            case .conv2d:
                guard let output = layer.output else { continue }
                work = Self.saturatingProduct([tensors[output].elementCount, layer.kernelSize, layer.kernelSize, input.channels])
            case .channelAffineReLU:
                work = input.elementCount
            case .averagePoolLinear:
                work = Self.saturatingSum(input.elementCount, Self.saturatingProduct([layer.outChannels, input.channels]))
            }
            total = Self.saturatingSum(total, work)
        }
        return total
    }

    private static func saturatingSum(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }

    private static func saturatingProduct(_ factors: [Int]) -> Int {
        var product = 1
        for factor in factors {
            let (next, overflow) = product.multipliedReportingOverflow(by: factor)
            if overflow { return .max }
            product = next
        }
        return product
    }
}

extension ModelDescription {
    /// Multiply-accumulates of one image that touch real input: the convolutions' taps that fall on
    /// padding are left out (about 9% of a WRN-28-10 at 32x32), as are the element-wise layers. What
    /// efficiency against a CPU's peak should count (tools/int8_peak.c, `wren bench`).
    public var usefulMultiplyAccumulates: Int {
        layers.indices.reduce(0) { Self.saturatingSum($0, usefulMultiplyAccumulates(layer: $1)) }
    }

    /// `usefulMultiplyAccumulates` of one layer: a convolution's taps inside its input, the
    /// classifier's inputs x classes, 0 for element-wise layers.
    public func usefulMultiplyAccumulates(layer index: Int) -> Int {
        let layer = layers[index]
        switch layer.op {
        case .conv2d:
            guard let outputIndex = layer.output else { return 0 }
            let input = tensors[layer.input]
            let output = tensors[outputIndex]
            let rows = Self.validTaps(outputs: output.height, input: input.height, layer: layer)
            let columns = Self.validTaps(outputs: output.width, input: input.width, layer: layer)
            return Self.saturatingProduct([rows, columns, input.channels, output.channels])
        case .averagePoolLinear:
            return Self.saturatingProduct([layer.outChannels, tensors[layer.input].channels])
        case .channelAffineReLU:
            return 0
        }
    }

    /// Σ over output positions of the kernel taps that land inside the input, along one axis.
    private static func validTaps(outputs: Int, input: Int, layer: LayerInfo) -> Int {
        var count = 0
        for position in 0..<max(outputs, 0) {
            let first = position &* layer.stride &- layer.padding
            let low = max(0, -first)
            let high = min(layer.kernelSize, input &- first)
            if high > low { count = saturatingSum(count, high - low) }
        }
        return count
    }
}
