/// Building a `WideResNet` from a state dict named as the widely used PyTorch implementation names it
/// (`WRNArchitecture.stateDictEntries` lists every key and shape), plus `*.bias` on every conv in the
/// PaddlePaddle port. `num_batches_tracked` may be absent: importers drop integer tensors.
extension WideResNet {
    /// Builds from canonical PyTorch key names (no "module." prefix): infers depth, widen factor, classes and conv biases from names and shapes, and checks every tensor's shape (missing → .missingTensor(key), wrong → .shapeMismatch(key, expected, found)); unknown extra keys are ignored except that a key under block*/conv*/bn*/fc that the architecture doesn't use is an error (it means the inference went wrong). Accepts conv biases (`*.bias` of convs) when present for ALL convs (Paddle-style).
    public init(stateDict: [String: FloatTensor]) throws(NetworkError) {
        let architecture = try Self.inferArchitecture(stateDict)
        var reader = StateDictReader(tensors: stateDict, convBias: architecture.convBias)
        let kernel = WRNArchitecture.convKernelSize, shortcutKernel = WRNArchitecture.shortcutKernelSize

        let stem = try reader.conv("conv1", out: WRNArchitecture.stemWidth, in: 3, kernel: kernel, stride: 1, padding: kernel / 2)
        var groups: [[BasicBlock]] = [[], [], []]
        for layout in architecture.blocks {
            let name = layout.name, input = layout.inChannels, out = layout.outChannels
            let bn1 = try reader.batchNorm(name + ".bn1", channels: input)
            let conv1 = try reader.conv(name + ".conv1", out: out, in: input, kernel: kernel, stride: layout.stride, padding: kernel / 2)
            let bn2 = try reader.batchNorm(name + ".bn2", channels: out)
            let conv2 = try reader.conv(name + ".conv2", out: out, in: out, kernel: kernel, stride: 1, padding: kernel / 2)
            let shortcut = layout.hasShortcut
                ? try reader.conv(name + ".convShortcut", out: out, in: input, kernel: shortcutKernel, stride: layout.stride, padding: 0)
                : nil
            groups[layout.group - 1].append(BasicBlock(bn1: bn1, conv1: conv1, bn2: bn2, conv2: conv2, shortcut: shortcut))
        }
        let features = architecture.groupWidths[2]
        let finalBN = try reader.batchNorm("bn1", channels: features)
        let fcWeight = try reader.tensor("fc.weight", shape: [architecture.numClasses, features])
        let fcBias = try reader.tensor("fc.bias", shape: [architecture.numClasses])
        try reader.rejectStrayKeys(architecture: architecture)

        self.init(architecture: architecture, stem: stem, groups: groups, finalBN: finalBN,
                  fc: Linear(weight: fcWeight, bias: fcBias.data))
    }

    /// Widen factor from block1's first conv, blocks per group from the highest `layer.{i}` index,
    /// classes from `fc.weight`, conv biases from the presence of any `conv*.bias`.
    static func inferArchitecture(_ tensors: [String: FloatTensor]) throws(NetworkError) -> WRNArchitecture {
        let widthKey = "block1.layer.0.conv1.weight"
        guard let widthTensor = tensors[widthKey] else { throw .missingTensor(key: widthKey) }
        guard let width = widthTensor.shape.first, width >= 16, width % 16 == 0 else {
            throw .unsupportedArchitecture("'\(widthKey)' has shape \(widthTensor.shape): its output channels should be 16 × widen factor")
        }

        // An index can only name a complete block if the dict has at least that many tensors; larger
        // ones are left to the stray-key check rather than sizing the network from them.
        var blocksPerGroup = 0
        for key in tensors.keys {
            let parts = key.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count > 3, ["block1", "block2", "block3"].contains(parts[0]), parts[1] == "layer",
                  let index = Int(parts[2]), index >= 0, index < tensors.count else { continue }
            blocksPerGroup = max(blocksPerGroup, index + 1)
        }

        guard let fcWeight = tensors["fc.weight"] else { throw .missingTensor(key: "fc.weight") }
        guard let classes = fcWeight.shape.first, classes >= 1 else {
            throw .unsupportedArchitecture("'fc.weight' has shape \(fcWeight.shape): no output classes")
        }

        let convBias = tensors.keys.contains { isConvBiasKey($0) }
        return WRNArchitecture(depth: 6 * blocksPerGroup + 4, widenFactor: width / 16, numClasses: classes, convBias: convBias)
    }

    /// `conv1.bias`, `block2.layer.0.convShortcut.bias`, ...: a bias whose module name starts with "conv".
    static func isConvBiasKey(_ key: String) -> Bool {
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 2 && parts[parts.count - 1] == "bias" && parts[parts.count - 2].hasPrefix("conv")
    }
}

/// Takes tensors out of a state dict by key, checking shapes and values, and remembers which keys
/// the network used so that leftovers in the network's own namespace can be reported.
struct StateDictReader {
    let tensors: [String: FloatTensor]
    let convBias: Bool
    private(set) var used: Set<String> = []

    init(tensors: [String: FloatTensor], convBias: Bool) {
        self.tensors = tensors
        self.convBias = convBias
    }

    mutating func tensor(_ key: String, shape expected: [Int]) throws(NetworkError) -> FloatTensor {
        guard let tensor = tensors[key] else { throw .missingTensor(key: key) }
        guard tensor.shape == expected else { throw .shapeMismatch(key: key, expected: expected, found: tensor.shape) }
        if let bad = tensor.data.firstIndex(where: { !$0.isFinite }) {
            throw .unsupportedArchitecture("tensor '\(key)' holds the non-finite value \(tensor.data[bad]) at index \(bad)")
        }
        used.insert(key)
        return tensor
    }

    mutating func conv(_ name: String, out: Int, in inChannels: Int, kernel: Int, stride: Int, padding: Int) throws(NetworkError) -> Conv2D {
        let weight = try tensor(name + ".weight", shape: [out, inChannels, kernel, kernel])
        let bias = convBias ? try tensor(name + ".bias", shape: [out]).data : nil
        return Conv2D(weight: weight, bias: bias, stride: stride, padding: padding)
    }

    mutating func batchNorm(_ name: String, channels: Int) throws(NetworkError) -> BatchNorm {
        let gamma = try tensor(name + ".weight", shape: [channels]).data
        let beta = try tensor(name + ".bias", shape: [channels]).data
        let mean = try tensor(name + ".running_mean", shape: [channels]).data
        let varianceKey = name + ".running_var"
        let variance = try tensor(varianceKey, shape: [channels]).data
        if let bad = variance.firstIndex(where: { $0 < 0 }) {
            throw .unsupportedArchitecture("tensor '\(varianceKey)' holds the negative variance \(variance[bad]) at index \(bad)")
        }
        // Training bookkeeping: belongs to the BN, carries nothing eval mode needs.
        if tensors[name + ".num_batches_tracked"] != nil { used.insert(name + ".num_batches_tracked") }
        return BatchNorm(gamma: gamma, beta: beta, mean: mean, variance: variance)
    }

    /// A leftover key under `block*`, `conv*`, `bn*` or `fc` means the inferred architecture is not the
    /// checkpoint's (a shortcut where none belongs, a fourth group, a deeper network): refuse it.
    func rejectStrayKeys(architecture: WRNArchitecture) throws(NetworkError) {
        let stray = tensors.keys.filter { key in
            guard !used.contains(key) else { return false }
            let module = key.prefix { $0 != "." }
            return module.hasPrefix("block") || module.hasPrefix("conv") || module.hasPrefix("bn") || module == "fc"
        }
        if let first = stray.sorted().first {
            throw .unsupportedArchitecture("tensor '\(first)' is not part of \(architecture) as inferred from the checkpoint")
        }
    }
}
