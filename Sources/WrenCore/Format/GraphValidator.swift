/// Checks that a parsed layer table is a graph the runtime can execute without further checks:
/// tensor references in range and in topological order, each tensor produced once, shapes and
/// channel counts consistent (residuals included), blobs of the exact size their layer needs and
/// not overlapping, quantization parameters in range, and the int32 accumulator bound respected.
enum GraphValidator {
    static func validate(
        _ model: ModelDescription, reader r: ByteReader, modelRecord: ModelReader.Section, layerTable: ModelReader.Section
    ) throws(WrenError) {
        let tensors = model.tensors
        guard model.input.tensor < tensors.count else {
            throw .invalidField(field: "input tensor", offset: modelRecord.offset + WrenFormat.ModelRecord.Field.inputTensor.rawValue, reason: "tensor \(model.input.tensor) does not exist (\(tensors.count) tensors)")
        }
        let inputTensor = tensors[model.input.tensor]
        guard inputTensor.channels == model.input.channels, inputTensor.height == model.input.height,
              inputTensor.width == model.input.width else {
            throw .invalidField(field: "input tensor", offset: modelRecord.offset + WrenFormat.ModelRecord.Field.inputTensor.rawValue, reason: "shape \(shape(inputTensor)) differs from the model input")
        }
        guard let last = model.layers.last, last.op == .averagePoolLinear else {
            throw .invalidField(field: "layer table", offset: layerTable.offset, reason: "the last layer must be the average_pool_linear classifier")
        }
        var produced = [Bool](repeating: false, count: tensors.count)
        produced[model.input.tensor] = true
        var blobs: [(range: BlobRange, owner: String)] = []

        for (index, layer) in model.layers.enumerated() {
            let at = layerTable.offset + WrenFormat.TableHeader.size + index * WrenFormat.LayerRecord.size
            let name = "layer[\(index)]"
            func fail(_ field: String, _ reason: String) -> WrenError {
                .invalidField(field: "\(name).\(field)", offset: at, reason: reason)
            }
            func consumed(_ tensor: Int, _ field: String) throws(WrenError) -> TensorInfo {
                guard tensor < tensors.count else { throw fail(field, "tensor \(tensor) does not exist (\(tensors.count) tensors)") }
                guard produced[tensor] else { throw fail(field, "tensor \(tensor) is used before any layer produces it") }
                return tensors[tensor]
            }
            func blob(_ range: BlobRange, _ field: String, bytes: Int) throws(WrenError) {
                guard range.length == bytes else { throw fail(field, "blob holds \(range.length) bytes, \(bytes) needed") }
                if bytes > 0 { blobs.append((range, "\(name).\(field)")) }
            }
            let input = try consumed(layer.input, "input")
            if layer.op != .averagePoolLinear && index == model.layers.count - 1 {
                throw fail("op", "the last layer must be the classifier")
            }

            switch layer.op {
            case .conv2d:
                guard let outIndex = layer.output, outIndex < tensors.count else { throw fail("output", "missing or out-of-range output tensor") }
                let output = tensors[outIndex]
                guard layer.kernelSize >= 1, layer.kernelSize <= 7, layer.kernelSize % 2 == 1 else {
                    throw fail("kernel_size", "\(layer.kernelSize) is not an odd size in 1...7")
                }
                guard layer.stride >= 1, layer.stride <= 4 else { throw fail("stride", "\(layer.stride) is outside 1...4") }
                guard layer.padding < layer.kernelSize else { throw fail("padding", "\(layer.padding) is not below the kernel size") }
                guard layer.outChannels == output.channels else {
                    throw fail("out_channels", "\(layer.outChannels) differs from output tensor \(outIndex)'s \(output.channels) channels")
                }
                let outHeight = (input.height + 2 * layer.padding - layer.kernelSize) / layer.stride + 1
                let outWidth = (input.width + 2 * layer.padding - layer.kernelSize) / layer.stride + 1
                guard input.height + 2 * layer.padding >= layer.kernelSize, input.width + 2 * layer.padding >= layer.kernelSize,
                      outHeight == output.height, outWidth == output.width else {
                    throw fail("output", "a \(layer.kernelSize)x\(layer.kernelSize)/\(layer.stride) convolution of \(shape(input)) cannot give \(shape(output))")
                }
                let depth = layer.kernelSize * layer.kernelSize * input.channels
                try blob(layer.weights, "weights", bytes: PackedConvWeights.byteCount(outChannels: layer.outChannels, depth: depth))
                try blob(layer.bias, "bias", bytes: 4 * layer.outChannels)
                try blob(layer.multipliers, "multipliers", bytes: 4 * layer.outChannels)
                try blob(layer.shifts, "shifts", bytes: 4 * layer.outChannels)
                try multipliers(r, layer.multipliers, layer.shifts, count: layer.outChannels, fail: fail)
                try accumulatorBound(r, layer, depth: depth, input: input.elementType, fail: fail)
                if let residualIndex = layer.residual {
                    let residual = try consumed(residualIndex, "residual")
                    guard residual.channels == output.channels, residual.height == output.height, residual.width == output.width else {
                        throw fail("residual", "shape \(shape(residual)) differs from the output's \(shape(output))")
                    }
                    guard layer.residualMultiplier.isValid else {
                        throw fail("residual_multiplier", "\(layer.residualMultiplier.multiplier) >> \(layer.residualMultiplier.rightShift) is not a normalized Q31 multiplier")
                    }
                } else if layer.residualMultiplier != QuantizedMultiplier(multiplier: 0, rightShift: 0) {
                    throw fail("residual_multiplier", "must be zero without a residual")
                }
                try produce(outIndex)

            case .channelAffineReLU:
                guard let outIndex = layer.output, outIndex < tensors.count else { throw fail("output", "missing or out-of-range output tensor") }
                let output = tensors[outIndex]
                guard output.channels == input.channels, output.height == input.height, output.width == input.width else {
                    throw fail("output", "shape \(shape(output)) differs from the input's \(shape(input))")
                }
                guard layer.outChannels == input.channels else { throw fail("out_channels", "\(layer.outChannels) differs from \(input.channels)") }
                guard layer.kernelSize == 1, layer.stride == 1, layer.padding == 0, layer.residual == nil else {
                    throw fail("op", "channel_affine_relu takes kernel 1, stride 1, padding 0 and no residual")
                }
                try blob(layer.offsets, "offsets", bytes: 4 * layer.outChannels)
                try blob(layer.multipliers, "multipliers", bytes: 4 * layer.outChannels)
                try blob(layer.shifts, "shifts", bytes: 4 * layer.outChannels)
                try multipliers(r, layer.multipliers, layer.shifts, count: layer.outChannels, fail: fail)
                for c in 0..<layer.outChannels {
                    let offset = try r.i32("\(name).offsets[\(c)]", at: layer.offsets.offset + 4 * c)
                    // int16 outputs need more offset headroom (2^15 output units); their kernels sum in 64 bits.
                    let limit: UInt32 = output.elementType == .int16 ? 1 << 30 : 1 << 24
                    guard offset.magnitude <= limit else { throw fail("offsets[\(c)]", "\(offset) is outside ±2^\(limit == 1 << 30 ? 30 : 24)") }
                }
                try produce(outIndex)

            case .averagePoolLinear:
                guard index == model.layers.count - 1 else { throw fail("op", "the classifier must be the last layer") }
                guard layer.output == nil, layer.residual == nil else { throw fail("output", "the classifier writes the logits, not a tensor") }
                guard layer.outChannels == model.numClasses else {
                    throw fail("out_channels", "\(layer.outChannels) differs from the model's \(model.numClasses) classes")
                }
                // The pooled sum of (x - zx) is int32: at most 255 per pixel (32767 for int16).
                guard Int64(input.height * input.width) <= Int64(Int32.max) / input.elementType.maxCenteredMagnitude else {
                    throw fail("input", "\(input.height)x\(input.width) pixels could overflow the int32 pooling sum")
                }
                try blob(layer.weights, "weights", bytes: 4 * layer.outChannels * input.channels)
                try blob(layer.bias, "bias", bytes: 4 * layer.outChannels)
                try blob(layer.multipliers, "multipliers", bytes: 0)
                try blob(layer.shifts, "shifts", bytes: 0)
                for range in [layer.weights, layer.bias] {
                    for i in 0..<(range.length / 4) {
                        let value = try r.f32("\(name) classifier value", at: range.offset + 4 * i)
                        guard value.isFinite else {
                            throw .invalidField(field: "\(name) classifier value", offset: range.offset + 4 * i, reason: "not finite")
                        }
                    }
                }
            }

            func produce(_ tensor: Int) throws(WrenError) {
                guard tensor != model.input.tensor else { throw fail("output", "overwrites the model input tensor") }
                guard !produced[tensor] else { throw fail("output", "tensor \(tensor) is produced twice") }
                produced[tensor] = true
            }
        }

        // Blobs may not overlap: a shared range would let one layer's data masquerade as another's.
        blobs.sort { $0.range.offset < $1.range.offset }
        if blobs.count > 1 {
            for i in 1..<blobs.count where blobs[i].range.offset < blobs[i - 1].range.offset + blobs[i - 1].range.length {
                throw .invalidField(field: blobs[i].owner, offset: blobs[i].range.offset, reason: "overlaps \(blobs[i - 1].owner)")
            }
        }
    }

    private static func shape(_ t: TensorInfo) -> String { "\(t.channels)x\(t.height)x\(t.width)" }

    private static func multipliers(
        _ r: ByteReader, _ multipliers: BlobRange, _ shifts: BlobRange, count: Int, fail: (String, String) -> WrenError
    ) throws(WrenError) {
        for c in 0..<count {
            let m = QuantizedMultiplier(
                multiplier: try r.i32("multipliers[\(c)]", at: multipliers.offset + 4 * c),
                rightShift: try r.i32("shifts[\(c)]", at: shifts.offset + 4 * c))
            guard m.rightShift >= -31, m.rightShift <= 31 else {
                throw fail("shifts[\(c)]", "\(m.rightShift) is outside -31...31")
            }
            guard m.isValid else {
                throw fail("multipliers[\(c)]", "\(m.multiplier) >> \(m.rightShift) is not a normalized Q31 multiplier with shift in -31...31")
            }
        }
    }

    /// |bias| + 255 · Σ|w| must fit in int32 for every output channel, so accumulation cannot overflow;
    /// with an int16 input, |bias| + 32767 · Σ|w| must stay below 2^47 (the int64 accumulator's
    /// bound that `multiplyByQuantizedMultiplier64` assumes; the format's limits keep it below 2^43).
    /// Weights are symmetric (never -128) and the packing's padding bytes are zero.
    private static func accumulatorBound(
        _ r: ByteReader, _ layer: LayerInfo, depth: Int, input: ElementType, fail: (String, String) -> WrenError
    ) throws(WrenError) {
        let weights = UnsafeRawBufferPointer(rebasing: r.bytes[layer.weights.offset..<(layer.weights.offset + layer.weights.length)])
            .bindMemory(to: Int8.self)
        let paddedDepth = PackedConvWeights.paddedDepth(depth)
        var absSums = [Int64](repeating: 0, count: PackedConvWeights.paddedChannels(layer.outChannels))
        for o in 0..<absSums.count {
            for k in 0..<paddedDepth {
                let w = weights[PackedConvWeights.index(channel: o, depth: k, paddedDepth: paddedDepth)]
                if o >= layer.outChannels || k >= depth {
                    guard w == 0 else { throw fail("weights", "padding byte for channel \(o), depth \(k) is \(w), must be 0") }
                    continue
                }
                guard w != Int8.min else {
                    throw fail("weights", "output channel \(o) holds -128; symmetric int8 weights lie in -127...127")
                }
                absSums[o] += Int64(w.magnitude)
            }
        }
        for o in 0..<layer.outChannels {
            let bias = Int64(try r.i32("bias[\(o)]", at: layer.bias.offset + 4 * o))
            let bound = bias.magnitude + UInt64(absSums[o]) * UInt64(input.maxCenteredMagnitude)
            if input == .int16 {
                guard bound < UInt64(1) << 47 else {
                    throw fail("bias[\(o)]", "output channel \(o) can accumulate \(bound) (|bias| + 32767·Σ|w|), beyond 2^47")
                }
            } else {
                guard bound <= UInt64(Int32.max) else {
                    throw fail("bias[\(o)]", "output channel \(o) can accumulate \(bound) (|bias| + 255·Σ|w|), beyond int32")
                }
            }
        }
    }
}
