extension ModelDescription {
    /// Whether layer `index` is a `channel_affine_relu` that runs fused into the convolution just
    /// before it: its input is that convolution's output (in a pre-activation WRN, the block output
    /// that the next block's first BN-ReLU reads and its shortcut keeps). Each convolution tile's
    /// pixels then go through the affine in the same task, right after they are written and while
    /// they are in cache: no pass and no thread synchronization of its own (its tasks are the
    /// convolution's tiles). The affine's output is therefore written while the convolution still
    /// reads its inputs: `ArenaPlan` keeps it apart from them, except from a residual the
    /// convolution reads last, whose bytes it may take (`ArenaPlan.residualReplacedByFusedAffine`).
    @inlinable
    public func runsFusedWithPrevious(_ index: Int) -> Bool {
        guard index >= 1, index < layers.count else { return false }
        let layer = layers[index], previous = layers[index - 1]
        // Only the int8 kernels fuse: a layer that touches an int16 tensor runs on its own.
        return layer.op == .channelAffineReLU && previous.op == .conv2d && previous.output == layer.input
            && !isWide(layer) && !isWide(previous)
    }
}
