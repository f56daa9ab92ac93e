/// The *prepare* half of WrenReference's `forward`: before any arithmetic, walk the layers with the
/// input's shape and prove that every tensor fits the stream it meets, so that the kernels can run
/// without checks and a hand-assembled or edited network yields a typed error instead of an
/// out-of-bounds read.
extension WideResNet {
    package func checkStructure(batch: Int, height: Int, width: Int) throws(NetworkError) {
        let architecture = self.architecture
        guard architecture.depth >= 10, (architecture.depth - 4) % 6 == 0 else {
            throw .unsupportedArchitecture("depth \(architecture.depth) is not 6N + 4 with N ≥ 1")
        }
        // The layout's shortcuts assume real widths (with k = 0 every width change would vanish).
        guard architecture.widenFactor >= 1 else {
            throw .unsupportedArchitecture("widen factor \(architecture.widenFactor) is not at least 1")
        }
        guard groups.count == 3 else {
            throw .unsupportedArchitecture("\(groups.count) groups of blocks, a WRN has 3")
        }
        var shape = ActivationShape(batch: batch, channels: 3, height: height, width: width)
        shape = try check(stem, named: "conv1", input: shape)
        for layout in architecture.blocks {
            let blocks = groups[layout.group - 1]
            // Counted when the walk reaches the group, so an earlier group's faults are reported first.
            if layout.index == 0 && blocks.count != architecture.blocksPerGroup {
                throw .unsupportedArchitecture("block\(layout.group) has \(blocks.count) blocks, \(architecture) needs \(architecture.blocksPerGroup)")
            }
            let block = blocks[layout.index], name = layout.name
            try check(block.bn1, named: name + ".bn1", channels: shape.channels)
            let hidden = try check(block.conv1, named: name + ".conv1", input: shape)
            try check(block.bn2, named: name + ".bn2", channels: hidden.channels)
            let output = try check(block.conv2, named: name + ".conv2", input: hidden)
            if let shortcut = block.shortcut {
                guard layout.hasShortcut else {
                    throw .unsupportedArchitecture("\(name) has a convShortcut that \(architecture) does not have")
                }
                let residual = try check(shortcut, named: name + ".convShortcut", input: shape)
                guard residual == output else {
                    throw .unsupportedArchitecture("\(name).convShortcut gives \(residual) but conv2 gives \(output)")
                }
            } else {
                guard !layout.hasShortcut else {
                    throw .unsupportedArchitecture("\(name) lacks the convShortcut that \(architecture) has")
                }
                guard shape == output else {
                    throw .unsupportedArchitecture("\(name) has no convShortcut but maps \(shape) to \(output)")
                }
            }
            shape = output
        }
        try check(finalBN, named: "bn1", channels: shape.channels)
        guard fc.weight.shape.count == 2, fc.inFeatures == shape.channels, fc.bias.count == fc.outFeatures else {
            throw .unsupportedArchitecture("fc has weight \(fc.weight.shape) and \(fc.bias.count) biases for \(shape.channels) features")
        }
        guard fc.outFeatures == architecture.numClasses else {
            throw .unsupportedArchitecture("fc gives \(fc.outFeatures) outputs, \(architecture) has \(architecture.numClasses) classes")
        }
        _ = try checkedProduct([batch, fc.outFeatures], what: "logits")
    }

    /// Checks one convolution against its input and returns its output shape.
    private func check(_ conv: Conv2D, named name: String, input: ActivationShape) throws(NetworkError) -> ActivationShape {
        let shape = conv.weight.shape
        guard shape.count == 4, shape[2] == shape[3], shape[0] >= 1, shape[2] >= 1 else {
            throw .unsupportedArchitecture("\(name).weight has shape \(shape), expected [out, in, k, k]")
        }
        guard conv.inChannels == input.channels else {
            throw .unsupportedArchitecture("\(name) takes \(conv.inChannels) channels but receives \(input)")
        }
        guard conv.stride >= 1, conv.padding >= 0 else {
            throw .unsupportedArchitecture("\(name) has stride \(conv.stride) and padding \(conv.padding)")
        }
        if let bias = conv.bias, bias.count != conv.outChannels {
            throw .unsupportedArchitecture("\(name).bias has \(bias.count) values for \(conv.outChannels) channels")
        }
        guard input.height + 2 * conv.padding >= conv.kernelSize, input.width + 2 * conv.padding >= conv.kernelSize else {
            throw .invalidInput("\(name) needs at least \(conv.kernelSize - 2 * conv.padding) pixels per side, receives \(input)")
        }
        let (height, width) = conv.outputSize(height: input.height, width: input.width)
        let output = ActivationShape(batch: input.batch, channels: conv.outChannels, height: height, width: width)
        // Every GEMM dimension goes to OpenBLAS as a 32-bit int; every buffer size must fit an Int.
        let reduction = try checkedProduct([conv.inChannels, conv.kernelSize, conv.kernelSize], what: "\(name) reduction")
        let pixels = try checkedProduct([height, width], what: "\(name) output plane")
        _ = try checkedProduct([reduction, pixels], what: "\(name) im2col buffer")
        _ = try checkedProduct([output.batch, output.channels, pixels], what: "\(name) output")
        guard reduction <= Int(Int32.max), pixels <= Int(Int32.max), conv.outChannels <= Int(Int32.max) else {
            throw .invalidInput("\(name) is too large for 32-bit BLAS dimensions")
        }
        return output
    }

    private func check(_ norm: BatchNorm, named name: String, channels: Int) throws(NetworkError) {
        let counts = [norm.gamma.count, norm.beta.count, norm.mean.count, norm.variance.count]
        guard counts.allSatisfy({ $0 == channels }) else {
            throw .unsupportedArchitecture("\(name) has weight/bias/mean/var counts \(counts) for \(channels) channels")
        }
    }
}

/// The product of `factors`, or `.invalidInput` naming `what` when it overflows an Int.
package func checkedProduct(_ factors: [Int], what: String) throws(NetworkError) -> Int {
    var product = 1
    for factor in factors {
        let (result, overflow) = product.multipliedReportingOverflow(by: factor)
        guard !overflow else { throw .invalidInput("\(what) has more elements than an Int can count") }
        product = result
    }
    return product
}
