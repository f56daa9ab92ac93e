/// Where each activation tensor lives in a context's arena. Planned once from the validated layer
/// graph: a tensor's bytes are reused by later tensors once its last reader has run (unless the
/// caller asks to keep every activation for inspection).
public struct ArenaPlan: Sendable, Equatable {
    /// Byte offset of each tensor (all images of the batch, NHWC), or nil when no layer reads it.
    public var tensorOffsets: [Int?]
    /// Offset of the scratch area: `workers` slices of `scratchPerWorker` bytes (im2col rows,
    /// pooled features), one per worker thread.
    public var scratchOffset: Int
    public var scratchPerWorker: Int
    public var scratchSize: Int
    /// Total bytes the arena needs.
    public var size: Int

    public init(
        model: ModelDescription, maxBatch: Int, retainActivations: Bool = false, workers: Int = 1,
        kernels: KernelTable = .portable
    ) {
        let align = WrenFormat.alignment
        func aligned(_ n: Int) -> Int { (n + align - 1) / align * align }
        let layers = model.layers
        // Interval [producer, lastReader] in layer indices; the input is produced at -1.
        var first = [Int](repeating: Int.max, count: model.tensors.count)
        var last = [Int](repeating: -2, count: model.tensors.count)
        first[model.input.tensor] = -1
        for (index, layer) in layers.enumerated() {
            if let output = layer.output { first[output] = index }
            last[layer.input] = max(last[layer.input], index)
            if let residual = layer.residual { last[residual] = max(last[residual], index) }
        }
        var offsets = [Int?](repeating: nil, count: model.tensors.count)
        var placed: [(offset: Int, size: Int, first: Int, last: Int)] = []
        var size = 0
        let order = (0..<model.tensors.count).filter { first[$0] != Int.max }.sorted { first[$0] < first[$1] }
        for tensor in order {
            let bytes = aligned(model.tensors[tensor].elementCount * maxBatch)
            let lifetime = (first[tensor], retainActivations ? Int.max : max(last[tensor], first[tensor] + 1))
            // First fit among the tensors whose lifetimes overlap this one.
            let conflicts = placed.filter { $0.first <= lifetime.1 && lifetime.0 <= $0.last }.sorted { $0.offset < $1.offset }
            var candidate = 0
            for other in conflicts where candidate + bytes > other.offset {
                candidate = max(candidate, aligned(other.offset + other.size))
            }
            offsets[tensor] = candidate
            placed.append((candidate, bytes, lifetime.0, lifetime.1))
            size = max(size, candidate + bytes)
        }
        var scratch = 0
        for layer in layers {
            let input = model.tensors[layer.input]
            switch layer.op {
            case .conv2d:
                let depth = layer.kernelSize * layer.kernelSize * input.channels
                scratch = max(scratch, kernels.scratchBytes(PackedConvWeights.paddedDepth(depth)), 4 * depth)
            case .channelAffineReLU: break
            case .averagePoolLinear: scratch = max(scratch, 4 * input.channels)
            }
        }
        self.tensorOffsets = offsets
        self.scratchOffset = aligned(size)
        self.scratchPerWorker = aligned(scratch)
        self.scratchSize = scratchPerWorker * max(1, workers)
        self.size = scratchOffset + scratchSize
    }
}
