import WrenCore
import WrenNetwork

/// Turns a float WRN and its calibrated activation ranges into the int8 graph:
///
///   input ─quantize→ conv1 ─┬→ [block: affine-ReLU(bn1) → conv1⊕bn2+ReLU → conv2 + residual] × 3N
///                           └→ affine-ReLU(final bn1) → average pool → float32 fc
///
/// Each block's bn2 folds exactly into its conv1; bn1 (after a residual add) becomes a per-channel
/// affine + ReLU requantization. When the first block has a shortcut (widen factor > 1), its bn1
/// folds into the stem as well, which then writes relu1 directly. Conv weights: int8 symmetric per
/// output channel (or, for comparison, one scale per tensor); bias: int32 at scale input_scale · weight_scale[c];
/// activations: int8 per tensor from the calibrated ranges.
/// The classifier stays float32 (it is under 0.1% of the work and keeps the logits exact).
public struct Quantizer {
    public var model: WideResNet
    public var ranges: ActivationRanges
    public var mean: [Float]
    public var std: [Float]
    public var height: Int
    public var width: Int
    public var weightGranularity: WeightGranularity
    /// Activation tensors stored as int16 (symmetric) instead of int8: `wren convert --keep-wider`.
    /// Every name must be an activation of this network (`wideTensorNames` lists them).
    public var keepWider: Set<String>

    public init(
        model: WideResNet, ranges: ActivationRanges, mean: [Float], std: [Float], height: Int = 32, width: Int = 32,
        weightGranularity: WeightGranularity = .perChannel, keepWider: Set<String> = []
    ) {
        self.keepWider = keepWider
        self.model = model
        self.ranges = ranges
        self.mean = mean
        self.std = std
        self.height = height
        self.width = width
        self.weightGranularity = weightGranularity
    }

    /// The rounding rule the file is written for: it decides which multipliers and offsets carry
    /// fraction bits (`WrenFormat.fractionBits`).
    static let roundingRule = WrenFormat.roundingRuleSingleRounding

    /// 2^fraction bits: the scale of a layer's multipliers and offsets under `roundingRule`.
    static func fractionScale(_ op: LayerOp, hasResidual: Bool) -> Double {
        Double(1 << WrenFormat.fractionBits(roundingRule: roundingRule, op: op, hasResidual: hasResidual))
    }

    private var tensors: [TensorInfo] = []
    private var layers: [QuantizedLayer] = []

    public mutating func quantize(metadata: [(key: String, value: String)]) throws -> QuantizedModel {
        tensors = []
        layers = []
        let input = try addTensor("input", channels: 3, height: height, width: width)
        var stream = input
        // When the first block has a shortcut, the stem's output feeds nothing but that block's bn1,
        // so bn1 folds exactly into the stem and relu1 is its output: one int8 rounding fewer, and no
        // per-tensor int8 stem output for bn1's per-channel gains to amplify (6 dB on WRN-16-2).
        var stemActivated: Int?
        if let first = model.groups.first?.first, first.shortcut != nil {
            stemActivated = try addConv("block1.layer.0.relu1", model.stem, foldedWith: first.bn1, input: input, relu: true)
        } else {
            stream = try addConv("conv1", model.stem, input: input, relu: false)
        }
        for (g, group) in model.groups.enumerated() {
            for (i, block) in group.enumerated() {
                let name = "block\(g + 1).layer.\(i)"
                let activated = try (g == 0 && i == 0 ? stemActivated : nil) ?? addAffineReLU("\(name).relu1", block.bn1, input: stream)
                let hidden = try addConv("\(name).relu2", block.conv1, foldedWith: block.bn2, input: activated, relu: true)
                var residual = stream
                if let shortcut = block.shortcut {
                    residual = try addConv("\(name).convShortcut", shortcut, input: activated, relu: false)
                }
                stream = try addConv(name, block.conv2, input: hidden, relu: false, residual: residual)
            }
        }
        let features = try addAffineReLU("relu", model.finalBN, input: stream)
        try addClassifier(model.fc, input: features)
        let names = Set(tensors.map(\.name))
        if let unknown = keepWider.sorted().first(where: { !names.contains($0) }) {
            throw ConvertError.invalidOption("--keep-wider: '\(unknown)' is not an activation of this \(model.architecture); "
                + "its activations are \(tensors.map(\.name).joined(separator: ", "))")
        }
        let inputInfo = InputInfo(channels: 3, height: height, width: width, mean: mean, std: std, tensor: input)
        return QuantizedModel(input: inputInfo, numClasses: model.architecture.numClasses, metadata: metadata, tensors: tensors,
                              layers: layers, roundingRule: Self.roundingRule)
    }

    // MARK: Tensors

    private mutating func addTensor(_ name: String, channels: Int, height: Int, width: Int) throws -> Int {
        guard let range = ranges[name] else {
            throw ConvertError.unrepresentable(layer: name, reason: "calibration recorded no range for this activation")
        }
        guard name.utf8.count <= WrenFormat.TensorRecord.nameCapacity else {
            throw ConvertError.unrepresentable(layer: name, reason: "name longer than \(WrenFormat.TensorRecord.nameCapacity) bytes")
        }
        let wide = keepWider.contains(name)
        let q = wide ? ActivationQuantization.int16(range: range) : ActivationQuantization(range: range)
        tensors.append(TensorInfo(name: name, channels: channels, height: height, width: width, scale: q.scale,
                                  zeroPoint: q.zeroPoint, elementType: wide ? .int16 : .int8))
        return tensors.count - 1
    }

    private func multiplier(_ real: Double, _ layer: String, _ what: String) throws -> QuantizedMultiplier {
        guard let m = QuantizedMultiplier(real: real) else {
            throw ConvertError.unrepresentable(layer: layer, reason: "\(what) multiplier \(real) is out of range")
        }
        return m
    }

    // MARK: Layers

    /// Adds a convolution (with `bn` folded in when given) whose float output activation is `name`.
    private mutating func addConv(
        _ name: String, _ conv: Conv2D, foldedWith bn: BatchNorm? = nil, input: Int, relu: Bool, residual: Int? = nil
    ) throws -> Int {
        let inTensor = tensors[input]
        let k = conv.kernelSize
        let outHeight = (inTensor.height + 2 * conv.padding - k) / conv.stride + 1
        let outWidth = (inTensor.width + 2 * conv.padding - k) / conv.stride + 1
        let output = try addTensor(name, channels: conv.outChannels, height: outHeight, width: outWidth)
        let outTensor = tensors[output]
        let depth = k * k * conv.inChannels
        let fold = bn?.affine()
        // Rule 2: the sum of the requantized accumulator and residual keeps 8 fraction bits and is
        // rounded once (two roundings cost 1.8 dB at the first residual add of the digits WRN-16-2).
        let fraction = Self.fractionScale(.conv2d, hasResidual: residual != nil)

        // Folded weights in [kh][kw][in] order per output channel (PyTorch stores [in][kh][kw]).
        var foldedRows: [[Double]] = []
        for o in 0..<conv.outChannels {
            let s = fold?.scale[o] ?? 1
            var folded = [Double](repeating: 0, count: depth)
            for ky in 0..<k {
                for kx in 0..<k {
                    for i in 0..<conv.inChannels {
                        let w = Double(conv.weight.data[((o * conv.inChannels + i) * k + ky) * k + kx])
                        folded[(ky * k + kx) * conv.inChannels + i] = w * s
                    }
                }
            }
            foldedRows.append(folded)
        }
        let channelMaxima = foldedRows.map { row in row.reduce(0) { max($0, $1.magnitude) } }
        let tensorMaximum = channelMaxima.max() ?? 0

        var weightRows = [Int8](repeating: 0, count: conv.outChannels * depth)
        var bias: [Int32] = []
        var multipliers: [Int32] = []
        var shifts: [Int32] = []
        for o in 0..<conv.outChannels {
            let s = fold?.scale[o] ?? 1
            let folded = foldedRows[o]
            let maxMagnitude = weightGranularity == .perTensor ? tensorMaximum : channelMaxima[o]
            let weightScale = maxMagnitude > 0 ? maxMagnitude / 127 : 1
            var absSum: Int64 = 0
            for j in 0..<depth {
                let q = Int8(min(max((folded[j] / weightScale).rounded(.toNearestOrEven), -127), 127))
                weightRows[o * depth + j] = q
                absSum += Int64(q.magnitude)
            }
            let floatBias = Double(conv.bias?[o] ?? 0) * s + (fold?.shift[o] ?? 0)
            let accumulatorScale = Double(inTensor.scale) * weightScale
            let qBias = (floatBias / accumulatorScale).rounded(.toNearestOrEven)
            // An int16 input accumulates in int64 (§7.6): the bias must still be an int32, and the
            // accumulator stay below 2^47.
            let accumulatorLimit = inTensor.elementType == .int16 ? Double(1 << 47) - 1 : Double(Int32.max)
            guard qBias.magnitude <= Double(Int32.max),
                  qBias.magnitude + Double(absSum) * Double(inTensor.elementType.maxCenteredMagnitude) <= accumulatorLimit else {
                throw ConvertError.unrepresentable(layer: name, reason: "output channel \(o): bias \(floatBias) overflows the int32 accumulator at scale \(accumulatorScale)")
            }
            bias.append(Int32(qBias))
            let m = try multiplier(accumulatorScale / Double(outTensor.scale) * fraction, name, "output channel \(o)")
            multipliers.append(m.multiplier)
            shifts.append(m.rightShift)
        }
        var residualMultiplier = QuantizedMultiplier(multiplier: 0, rightShift: 0)
        if let residual {
            residualMultiplier = try multiplier(Double(tensors[residual].scale) / Double(outTensor.scale) * fraction, name, "residual")
        }
        layers.append(QuantizedLayer(
            name: name, op: .conv2d, input: input, output: output, residual: residual, kernelSize: k,
            stride: conv.stride, padding: conv.padding, relu: relu, residualMultiplier: residualMultiplier,
            outChannels: conv.outChannels,
            blobs: [PackedConvWeights.pack(weightRows, outChannels: conv.outChannels, depth: depth).map { UInt8(bitPattern: $0) },
                    .littleEndian(bias), .littleEndian(multipliers), .littleEndian(shifts), []]))
        return output
    }

    /// Adds relu(bn(x)) as a per-channel requantization whose float output activation is `name`.
    private mutating func addAffineReLU(_ name: String, _ bn: BatchNorm, input: Int) throws -> Int {
        let inTensor = tensors[input]
        let output = try addTensor(name, channels: inTensor.channels, height: inTensor.height, width: inTensor.width)
        let outScale = Double(tensors[output].scale) / Self.fractionScale(.channelAffineReLU, hasResidual: false)
        let (scale, shift) = bn.affine()
        var offsets: [Int32] = []
        var multipliers: [Int32] = []
        var shifts: [Int32] = []
        for c in 0..<inTensor.channels {
            let m = try multiplier(scale[c] * Double(inTensor.scale) / outScale, name, "channel \(c)")
            multipliers.append(m.multiplier)
            shifts.append(m.rightShift)
            // Rule 2: offset and scaled input are summed with 8 fraction bits and rounded once (an
            // integer offset's rounding is a per-channel constant error that pooling keeps: 3.4 dB
            // of the digits WRN-16-2's logits). Beyond ±2^24 (2^16 output units) the output
            // saturates anyway; the cap keeps the format's bound.
            // An int16 output spans 2^16 units, so its cap is 2^30 (§6.2).
            let cap: Double = tensors[output].elementType == .int16 ? 1_073_741_824 : 16_777_216
            let offset = min(max((shift[c] / outScale).rounded(.toNearestOrEven), -cap), cap)
            offsets.append(Int32(offset))
        }
        layers.append(QuantizedLayer(
            name: name, op: .channelAffineReLU, input: input, output: output, residual: nil, kernelSize: 1,
            stride: 1, padding: 0, relu: true, residualMultiplier: QuantizedMultiplier(multiplier: 0, rightShift: 0),
            outChannels: inTensor.channels,
            blobs: [[], .littleEndian(offsets), .littleEndian(multipliers), .littleEndian(shifts), []]))
        return output
    }

    private mutating func addClassifier(_ fc: Linear, input: Int) throws {
        guard fc.inFeatures == tensors[input].channels else {
            throw ConvertError.unrepresentable(layer: "fc", reason: "takes \(fc.inFeatures) features, the network gives \(tensors[input].channels)")
        }
        layers.append(QuantizedLayer(
            name: "fc", op: .averagePoolLinear, input: input, output: nil, residual: nil, kernelSize: 1, stride: 1,
            padding: 0, relu: false, residualMultiplier: QuantizedMultiplier(multiplier: 0, rightShift: 0),
            outChannels: fc.outFeatures, blobs: [.littleEndian(fc.weight.data), .littleEndian(fc.bias), [], [], []]))
    }
}
