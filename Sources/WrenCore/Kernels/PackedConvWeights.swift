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

    /// Whether a kernel may skip whole kernel rows of padding for this convolution: each kernel
    /// row must be a whole number of depth groups.
    @inlinable
    public static func canSkipKernelRows(kernelSize: Int, inChannels: Int, padding: Int) -> Bool {
        kernelSize > 1 && padding > 0 && (kernelSize * inChannels) % depthGroup == 0
    }

    /// `Σ_{kx, i} w[o][(ky·kw + kx)·I + i]` (wrapping) for every kernel row `ky` and output channel
    /// `o`, laid out `[ky][paddedChannels]` (padding channels 0). Their sum over `ky` is `Σw`,
    /// which turns the bias of kernels that multiply `x + 128` into that of kernels that multiply
    /// signed `x` (`+ 128 · Σw`).
    public static func kernelRowWeightSums(
        packed: UnsafePointer<Int8>, outChannels: Int, inChannels: Int, kernelSize: Int
    ) -> [Int32] {
        let run = kernelSize * inChannels
        let kp = paddedDepth(run * kernelSize)
        let channels = paddedChannels(outChannels)
        var rows = [Int32](repeating: 0, count: kernelSize * channels)
        for ky in 0..<kernelSize {
            for o in 0..<outChannels {
                var sum: Int32 = 0
                for k in (ky * run)..<((ky + 1) * run) { sum &+= Int32(packed[index(channel: o, depth: k, paddedDepth: kp)]) }
                rows[ky * channels + o] = sum
            }
        }
        return rows
    }

    /// `(zx + 128) · Σ_{kx, i} w[o][(ky·kw + kx)·I + i]` for every kernel row `ky` and output channel
    /// `o` (from `kernelRowWeightSums`, same layout): what a kernel row of padding taps adds to an
    /// accumulator of `x + 128` terms. A kernel that skips those taps starts its accumulators from
    /// the sum of these rows instead, with identical (wrapping) results.
    public static func kernelRowInputBias(rowWeightSums: [Int32], inputZeroPoint: Int32) -> [Int32] {
        rowWeightSums.map { (inputZeroPoint &+ 128) &* $0 }
    }
}
