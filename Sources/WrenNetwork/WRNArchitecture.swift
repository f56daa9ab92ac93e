/// The shape of a WRN: WRN-`depth`-`widenFactor` with `numClasses` outputs.
///
/// Its `blocks` (and `stateDictEntries`, which is built from them) are the one description of a WRN's
/// structure: building from a state dict, checking a network, naming activations and laying out
/// training parameters all walk them rather than working out widths, strides and shortcuts again.
public struct WRNArchitecture: Sendable, Equatable, CustomStringConvertible {
    public var depth: Int
    public var widenFactor: Int
    public var numClasses: Int
    public var convBias: Bool

    public init(depth: Int, widenFactor: Int, numClasses: Int, convBias: Bool) {
        self.depth = depth
        self.widenFactor = widenFactor
        self.numClasses = numClasses
        self.convBias = convBias
    }

    /// The stem convolution's output width: 16 whatever the widen factor.
    public static let stemWidth = 16
    /// The stem and both convolutions of every block are 3x3 with padding 1 (size-preserving at stride 1).
    package static let convKernelSize = 3
    /// Projection shortcuts are 1x1, unpadded.
    package static let shortcutKernelSize = 1

    /// Blocks per group, N = (depth - 4) / 6.
    public var blocksPerGroup: Int { (depth - 4) / 6 }
    public var groupWidths: [Int] { [16 * widenFactor, 32 * widenFactor, 64 * widenFactor] }
    public var description: String { "WRN-\(depth)-\(widenFactor)" }

    /// Every residual block in execution order: block1's N blocks, then block2's, then block3's.
    public var blocks: [WRNBlockLayout] {
        var blocks: [WRNBlockLayout] = []
        var inChannels = Self.stemWidth
        for (offset, width) in groupWidths.enumerated() {
            for index in 0..<max(0, blocksPerGroup) {
                // Only a group's first block changes the width; block2's and block3's also halve the resolution.
                let stride = index == 0 && offset > 0 ? 2 : 1
                blocks.append(WRNBlockLayout(group: offset + 1, index: index, inChannels: inChannels,
                                             outChannels: width, stride: stride))
                inChannels = width
            }
        }
        return blocks
    }
}

/// One residual block's place in a WRN, which decides its tensors' shapes and whether it carries a
/// projection shortcut.
public struct WRNBlockLayout: Sendable, Equatable, CustomStringConvertible {
    /// 1, 2 or 3 (`block1` ... `block3`).
    public var group: Int
    /// The block's position in its group, from 0.
    public var index: Int
    public var inChannels: Int
    public var outChannels: Int
    /// The stride of conv1 and of the shortcut (conv2's is always 1).
    public var stride: Int

    package init(group: Int, index: Int, inChannels: Int, outChannels: Int, stride: Int) {
        self.group = group
        self.index = index
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.stride = stride
    }

    /// `block{g}.layer.{i}`, the block's PyTorch module path.
    public var name: String { "block\(group).layer.\(index)" }

    /// A block that changes the width carries a 1x1 `convShortcut`; otherwise the residual is its raw
    /// input. With widen factor 1, block1's first block is 16 → 16 and has none.
    public var hasShortcut: Bool { inChannels != outChannels }

    public var description: String {
        "\(name): \(inChannels) → \(outChannels), stride \(stride)\(hasShortcut ? ", convShortcut" : "")"
    }
}
