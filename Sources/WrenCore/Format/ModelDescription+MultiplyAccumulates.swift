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
