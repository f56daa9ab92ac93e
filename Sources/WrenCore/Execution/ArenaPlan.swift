/// Where each activation tensor lives in a context's arena (int8 tensors take 1 byte per element,
/// int16 tensors 2). Planned once from the validated layer
/// graph: a tensor's bytes are reused by later tensors once its last reader has run (unless the
/// caller asks to keep every activation for inspection).
///
/// A context runs a batch image by image, and with several workers each worker runs its own images
/// at once, so the arena holds one *slot* of activations per image in flight: `min(maxBatch,
/// workers)` slots, each a whole single-image plan, so images at different layers never share
/// bytes. The arena therefore does not grow with the batch beyond the worker count. When every
/// activation is retained, each image of the batch has its own copy of each tensor instead, stored
/// tensor by tensor (all images of one tensor contiguous, for inspection).
public struct ArenaPlan: Sendable, Equatable {
    /// Byte offset of each tensor in slot 0, or nil when no layer reads it.
    public var tensorOffsets: [Int?]
    /// Images whose activations the arena holds at once.
    public var slots: Int
    /// Bytes from a tensor in one slot to the same tensor in the next.
    public var slotStrides: [Int]
    /// Offset of the scratch area: `workers` slices of `scratchPerWorker` bytes (im2col rows,
    /// pooled features), one per worker thread.
    public var scratchOffset: Int
    public var scratchPerWorker: Int
    public var scratchSize: Int
    /// Total bytes the arena needs: `Int.max` when that does not fit in an `Int`, which no limit admits.
    public var size: Int

    public init(
        model: ModelDescription, maxBatch: Int, retainActivations: Bool = false, workers: Int = 1,
        kernels: KernelTable = .portable
    ) {
        let align = WrenFormat.alignment
        // Sizes saturate at Int.max instead of trapping: a file may declare up to 4096 tensors of
        // 2^28 elements, times the batch when retained, which overflows a 32-bit Int (and is
        // refused afterwards by the context's arena limit).
        func aligned(_ n: Int) -> Int { n > Int.max - (align - 1) ? Int.max : (n + align - 1) / align * align }
        func sum(_ a: Int, _ b: Int) -> Int {
            let (result, overflow) = a.addingReportingOverflow(b)
            return overflow ? Int.max : result
        }
        func product(_ a: Int, _ b: Int) -> Int {
            let (result, overflow) = a.multipliedReportingOverflow(by: b)
            return overflow ? Int.max : result
        }
        let layers = model.layers
        let slots = retainActivations ? maxBatch : max(1, min(maxBatch, workers))
        // Retained tensors hold all images side by side; otherwise a tensor is one image.
        let imagesPerTensor = retainActivations ? maxBatch : 1
        // Interval [producer, lastReader] in layer indices; the input is produced at -1. A fused
        // affine's output is produced together with the convolution it is fused into.
        var first = [Int](repeating: Int.max, count: model.tensors.count)
        var last = [Int](repeating: -2, count: model.tensors.count)
        var producer = [Int?](repeating: nil, count: model.tensors.count)
        first[model.input.tensor] = -1
        for (index, layer) in layers.enumerated() {
            if let output = layer.output {
                first[output] = model.runsFusedWithPrevious(index) ? index - 1 : index
                producer[output] = index
            }
            last[layer.input] = max(last[layer.input], index)
            if let residual = layer.residual { last[residual] = max(last[residual], index) }
        }
        var offsets = [Int?](repeating: nil, count: model.tensors.count)
        var placed: [(tensor: Int, offset: Int, size: Int, first: Int, last: Int)] = []
        var slotSize = 0
        let order = (0..<model.tensors.count).filter { first[$0] != Int.max }.sorted { first[$0] < first[$1] }
        for tensor in order {
            let bytes = aligned(product(model.tensors[tensor].byteCount, imagesPerTensor))
            let lifetime = (first[tensor], retainActivations ? Int.max : max(last[tensor], first[tensor] + 1))
            // First fit among the tensors whose lifetimes overlap this one.
            let conflicts = placed.filter { $0.first <= lifetime.1 && lifetime.0 <= $0.last }.sorted { $0.offset < $1.offset }
            var candidate = 0
            for other in conflicts where sum(candidate, bytes) > other.offset {
                candidate = max(candidate, aligned(sum(other.offset, other.size)))
            }
            // A fused affine's output may take the bytes of its convolution's residual when that is
            // the residual's last reader: the residual is read pixel by pixel, each pixel by the
            // tile that then overwrites it, after reading it. Without this the fusion would cost a
            // whole extra tensor of arena.
            if !retainActivations, let layer = producer[tensor],
               let residual = Self.residualReplacedByFusedAffine(model, producedBy: layer, lastReader: last),
               let offset = offsets[residual], model.tensors[residual].byteCount == model.tensors[tensor].byteCount,
               !conflicts.contains(where: { $0.tensor != residual && $0.offset < sum(offset, bytes) && offset < sum($0.offset, $0.size) }) {
                candidate = offset
            }
            offsets[tensor] = candidate
            placed.append((tensor, candidate, bytes, lifetime.0, lifetime.1))
            slotSize = max(slotSize, sum(candidate, bytes))
        }
        var scratch = 0
        for layer in layers {
            let input = model.tensors[layer.input]
            switch layer.op {
            case .conv2d:
                let depth = layer.kernelSize * layer.kernelSize * input.channels
                scratch = max(scratch, kernels.scratchBytes(PackedConvWeights.paddedDepth(depth)), 4 * depth)
                if model.isWide(layer) { scratch = max(scratch, WideConv2DTile.scratchBytes(PackedConvWeights.paddedDepth(depth))) }
            case .channelAffineReLU: break
            case .averagePoolLinear: scratch = max(scratch, 4 * input.channels)
            }
        }
        self.tensorOffsets = offsets
        self.slots = slots
        self.slotStrides = model.tensors.map { retainActivations ? $0.byteCount : aligned(slotSize) }
        self.scratchOffset = retainActivations ? aligned(slotSize) : product(aligned(slotSize), slots)
        self.scratchPerWorker = aligned(scratch)
        self.scratchSize = product(scratchPerWorker, max(1, workers))
        self.size = sum(scratchOffset, scratchSize)
    }

    /// When layer `index` is an affine fused into the convolution before it: that convolution's
    /// residual, if the convolution is its last reader (and the residual is neither the
    /// convolution's input, read around each pixel, nor the affine's); else nil.
    static func residualReplacedByFusedAffine(_ model: ModelDescription, producedBy index: Int, lastReader: [Int]) -> Int? {
        guard model.runsFusedWithPrevious(index),
              let residual = model.layers[index - 1].residual, residual != model.layers[index].input,
              residual != model.layers[index - 1].input,
              lastReader[residual] == index - 1 else { return nil }
        return residual
    }

    /// Byte offset of `tensor` for the image in `slot`; nil when no layer reads the tensor.
    @inlinable
    public func offset(tensor: Int, slot: Int) -> Int? {
        tensorOffsets[tensor].map { $0 + slot * slotStrides[tensor] }
    }
}
