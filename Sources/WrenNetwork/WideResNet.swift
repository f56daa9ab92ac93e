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
        for group in 1...3 {
            for index in 0..<max(0, architecture.blocksPerGroup) {
                let block = blockName(group: group, index: index)
                names.append(block + ".relu1")
                names.append(block + ".relu2")
                if hasShortcut(group: group, index: index, architecture: architecture) {
                    names.append(block + ".convShortcut")
                }
                names.append(block)
            }
        }
        names.append("relu")
        names.append("pool")
        return names
    }

    /// `block{g}.layer.{i}`, the PyTorch module path of a block (g counts from 1).
    package static func blockName(group: Int, index: Int) -> String { "block\(group).layer.\(index)" }

    /// Whether the block's input and output widths differ, so it carries a 1x1 `convShortcut`.
    /// Every group's first block changes width, except block1's when the widen factor is 1 (16 → 16).
    package static func hasShortcut(group: Int, index: Int, architecture: WRNArchitecture) -> Bool {
        index == 0 && (group > 1 || architecture.widenFactor != 1)
    }
}
