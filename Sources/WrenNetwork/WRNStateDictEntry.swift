/// One tensor of a WRN's PyTorch state_dict: the module that holds it, what it is, and its shape.
public struct WRNStateDictEntry: Sendable, Equatable, CustomStringConvertible {
    /// The module path, e.g. `conv1`, `block2.layer.0.convShortcut`, `bn1`, `fc`.
    public var module: String
    public var role: WRNTensorRole
    public var shape: [Int]

    package init(module: String, role: WRNTensorRole, shape: [Int]) {
        self.module = module
        self.role = role
        self.shape = shape
    }

    /// The state_dict key, e.g. `block2.layer.0.convShortcut.weight`.
    public var key: String { module + "." + role.attributeName }

    public var description: String { "\(key) \(shape)" }
}

/// What a state_dict tensor is: it tells a trainer which tensors to optimize and a checkpoint writer
/// what to store, from the same list.
public enum WRNTensorRole: Sendable, Equatable, CaseIterable {
    /// `[out, in, k, k]`
    case convWeight
    /// `[out]`, on every convolution when the architecture has conv biases (the PaddlePaddle port).
    case convBias
    /// Batch norm's gamma, `[channels]`.
    case batchNormWeight
    /// Batch norm's beta, `[channels]`.
    case batchNormBias
    case runningMean
    case runningVariance
    /// Batch norm's update counter: shape `[]`, int64 in PyTorch (not float). Eval mode never reads it.
    case batchesTracked
    /// `[classes, features]`
    case linearWeight
    /// `[classes]`
    case linearBias

    /// The tensor's attribute name in its PyTorch module, the last component of its key.
    public var attributeName: String {
        switch self {
        case .convWeight, .batchNormWeight, .linearWeight: return "weight"
        case .convBias, .batchNormBias, .linearBias: return "bias"
        case .runningMean: return "running_mean"
        case .runningVariance: return "running_var"
        case .batchesTracked: return "num_batches_tracked"
        }
    }

    /// Whether PyTorch holds it as an `nn.Parameter`, which an optimizer updates; the others are
    /// buffers that training computes (the running statistics) or counts.
    public var isParameter: Bool {
        switch self {
        case .convWeight, .convBias, .batchNormWeight, .batchNormBias, .linearWeight, .linearBias: return true
        case .runningMean, .runningVariance, .batchesTracked: return false
        }
    }
}

extension WRNArchitecture {
    /// Every tensor of the PyTorch `WideResNet`'s state_dict (tools/wrn_torch.py) in the order
    /// `state_dict()` lists them: modules in the order their parents' `__init__` assigns them (a
    /// block's bn1, conv1, bn2, conv2, convShortcut), each module's parameters before its buffers.
    ///
    ///     conv1.weight [16, 3, 3, 3]                          (conv1.bias [16] with conv biases)
    ///     per block: bn1.* [in], conv1 [out, in, 3, 3], bn2.* [out], conv2 [out, out, 3, 3],
    ///                convShortcut [out, in, 1, 1] where in != out
    ///     bn1.* [64k], fc.weight [classes, 64k], fc.bias [classes]
    ///
    /// where `bn.*` is weight, bias, running_mean, running_var and num_batches_tracked (`[]`).
    /// fixtures/network/state_dict_keys.json holds what PyTorch itself lists (tools/make_state_dict_keys.py).
    public var stateDictEntries: [WRNStateDictEntry] {
        var entries: [WRNStateDictEntry] = []
        func conv(_ module: String, out: Int, in inChannels: Int, kernel: Int) {
            entries.append(WRNStateDictEntry(module: module, role: .convWeight, shape: [out, inChannels, kernel, kernel]))
            if convBias { entries.append(WRNStateDictEntry(module: module, role: .convBias, shape: [out])) }
        }
        func batchNorm(_ module: String, channels: Int) {
            for role in [WRNTensorRole.batchNormWeight, .batchNormBias, .runningMean, .runningVariance] {
                entries.append(WRNStateDictEntry(module: module, role: role, shape: [channels]))
            }
            entries.append(WRNStateDictEntry(module: module, role: .batchesTracked, shape: []))
        }

        conv("conv1", out: Self.stemWidth, in: 3, kernel: Self.convKernelSize)
        for block in blocks {
            batchNorm(block.name + ".bn1", channels: block.inChannels)
            conv(block.name + ".conv1", out: block.outChannels, in: block.inChannels, kernel: Self.convKernelSize)
            batchNorm(block.name + ".bn2", channels: block.outChannels)
            conv(block.name + ".conv2", out: block.outChannels, in: block.outChannels, kernel: Self.convKernelSize)
            if block.hasShortcut {
                conv(block.name + ".convShortcut", out: block.outChannels, in: block.inChannels, kernel: Self.shortcutKernelSize)
            }
        }
        let features = groupWidths[2]
        batchNorm("bn1", channels: features)
        entries.append(WRNStateDictEntry(module: "fc", role: .linearWeight, shape: [numClasses, features]))
        entries.append(WRNStateDictEntry(module: "fc", role: .linearBias, shape: [numClasses]))
        return entries
    }
}
