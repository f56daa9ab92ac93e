/// A loaded, validated, immutable model. Safe to share between threads; each thread runs it
/// through its own `WrenContext`.
public final class WrenModel: @unchecked Sendable {
    public let description: ModelDescription
    let storage: ModelStorage

    /// Validates and copies `bytes` (into 64-byte-aligned memory the model owns).
    public convenience init(bytes: [UInt8]) throws(WrenError) {
        let storage = bytes.withUnsafeBytes { ModelStorage(copying: $0) }
        try self.init(storage: storage)
    }

    /// Validates `bytes` and keeps a pointer to them without copying: the caller must keep the
    /// memory alive and unchanged for as long as the model exists.
    /// Memory that is not 64-byte aligned is copied instead, because the kernels read int32 and
    /// float32 blobs in place.
    public convenience init(borrowing bytes: UnsafeRawBufferPointer) throws(WrenError) {
        let aligned = bytes.baseAddress.map { UInt(bitPattern: $0) % UInt(WrenFormat.alignment) == 0 } ?? false
        try self.init(storage: aligned ? ModelStorage(borrowing: bytes) : ModelStorage(copying: bytes))
    }

    /// True when the model reads the caller's memory in place.
    public var isZeroCopy: Bool { storage.isBorrowed }

    /// Per conv layer (nil for other ops): `bias − (zx + 128) · Σw` per output channel, the bias the
    /// kernels that multiply unsigned `x + 128` need. Computed once here, shared by all contexts.
    let unsignedInputBiases: [[Int32]?]

    /// Per conv layer whose kernel rows of padding the kernels may skip: its
    /// `PackedConvWeights.kernelRowInputBias`, in memory the model owns; nil for other layers.
    let kernelRowBiasPointers: [UnsafePointer<Int32>?]

    init(storage: ModelStorage) throws(WrenError) {
        self.storage = storage
        let description = try ModelReader.read(storage.bytes)
        self.description = description
        self.unsignedInputBiases = description.layers.map { layer in
            guard layer.op == .conv2d else { return nil }
            let input = description.tensors[layer.input]
            let depth = layer.kernelSize * layer.kernelSize * input.channels
            let paddedDepth = PackedConvWeights.paddedDepth(depth)
            let base = storage.bytes.baseAddress!
            let weights = (base + layer.weights.offset).assumingMemoryBound(to: Int8.self)
            let bias = (base + layer.bias.offset).assumingMemoryBound(to: Int32.self)
            let zeroPoint = input.zeroPoint &+ 128
            return (0..<layer.outChannels).map { o in
                var sum: Int32 = 0
                for k in 0..<depth { sum &+= Int32(weights[PackedConvWeights.index(channel: o, depth: k, paddedDepth: paddedDepth)]) }
                // Wrapping is fine: the kernels' final sum is the true accumulator, which fits in int32.
                return bias[o] &- zeroPoint &* sum
            }
        }
        self.kernelRowBiasPointers = description.layers.map { layer in
            let input = description.tensors[layer.input]
            guard layer.op == .conv2d,
                  PackedConvWeights.canSkipKernelRows(kernelSize: layer.kernelSize, inChannels: input.channels, padding: layer.padding)
            else { return nil }
            let rows = PackedConvWeights.kernelRowInputBias(
                packed: (storage.bytes.baseAddress! + layer.weights.offset).assumingMemoryBound(to: Int8.self),
                outChannels: layer.outChannels, inChannels: input.channels, kernelSize: layer.kernelSize,
                inputZeroPoint: input.zeroPoint)
            let memory = UnsafeMutablePointer<Int32>.allocate(capacity: rows.count)
            memory.initialize(from: rows, count: rows.count)
            return UnsafePointer(memory)
        }
    }

    deinit {
        for pointer in kernelRowBiasPointers { pointer.map { UnsafeMutablePointer(mutating: $0).deallocate() } }
    }

    public var numClasses: Int { description.numClasses }
    public var input: InputInfo { description.input }
    public var bytes: UnsafeRawBufferPointer { storage.bytes }
}
