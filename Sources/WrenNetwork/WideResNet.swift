/// The parameters of a float32 pre-activation Wide Residual Network, held as the widely used PyTorch
/// `WideResNet` holds them (same parameters, same block structure, explicit batch norms).
/// WrenReference's `forward` runs it in eval mode exactly as PyTorch computes it.
public struct WideResNet: Sendable {
    public var architecture: WRNArchitecture
    public var stem: Conv2D            // "conv1"
    public var groups: [[BasicBlock]]  // block1, block2, block3; each N blocks
    public var finalBN: BatchNorm      // "bn1"
    public var fc: Linear              // "fc"

    public init(architecture: WRNArchitecture, stem: Conv2D, groups: [[BasicBlock]], finalBN: BatchNorm, fc: Linear) {
        self.architecture = architecture
        self.stem = stem
        self.groups = groups
        self.finalBN = finalBN
        self.fc = fc
    }

    /// The names `forward` reports to its observer, in execution order.
    public static func activationNames(for architecture: WRNArchitecture) -> [String] {
        var names = ["input", "conv1"]
        for block in architecture.blocks {
            names.append(block.name + ".relu1")
            names.append(block.name + ".relu2")
            if block.hasShortcut { names.append(block.name + ".convShortcut") }
            names.append(block.name)
        }
        names.append("relu")
        names.append("pool")
        return names
    }
}
