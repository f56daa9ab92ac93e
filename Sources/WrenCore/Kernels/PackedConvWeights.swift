/// The layout `.wren` stores int8 convolution weights in, chosen so the fast kernels read them
/// straight from the file (zero-copy): output channels in blocks of 16, the depth
/// `k = (ky·kw + kx)·I + i` in groups of 4, and inside one (block, group) cell 16 channels × 4
/// depth bytes — 64 bytes, one AVX-512 register, the operand of `vpdpbusd`.
///
///     byte(o, k) = ((o / 16) · (paddedDepth / 4) + k / 4) · 64 + (o % 16) · 4 + k % 4
///
/// Channels are padded to a multiple of 16 and depth to a multiple of 4 with zero weights.
public enum PackedConvWeights {
    public static let channelBlock = 16
    public static let depthGroup = 4

    @inlinable
    public static func paddedChannels(_ outChannels: Int) -> Int { (outChannels + 15) / 16 * 16 }

    @inlinable
    public static func paddedDepth(_ depth: Int) -> Int { (depth + 3) / 4 * 4 }

    @inlinable
    public static func byteCount(outChannels: Int, depth: Int) -> Int {
        paddedChannels(outChannels) * paddedDepth(depth)
    }

    @inlinable
    public static func index(channel o: Int, depth k: Int, paddedDepth: Int) -> Int {
        ((o >> 4) * (paddedDepth >> 2) + (k >> 2)) * 64 + (o & 15) * 4 + (k & 3)
    }

    /// Packs `[outChannels][depth]` row-major weights.
    public static func pack(_ weights: [Int8], outChannels: Int, depth: Int) -> [Int8] {
        precondition(weights.count == outChannels * depth)
        let kp = paddedDepth(depth)
        var packed = [Int8](repeating: 0, count: byteCount(outChannels: outChannels, depth: depth))
        for o in 0..<outChannels {
            for k in 0..<depth { packed[index(channel: o, depth: k, paddedDepth: kp)] = weights[o * depth + k] }
        }
        return packed
    }
}
