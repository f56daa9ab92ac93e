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

    /// Per conv layer (nil for other ops), computed once here and shared by all contexts, in
    /// memory the model owns so kernels read it through plain pointers:
    /// - `unsignedInputBias`: `bias − (zx + 128) · Σw` per output channel, the bias the kernels that
    ///   multiply unsigned `x + 128` need;
    /// - `signedInputBias`: `bias − zx · Σw`, for kernels that multiply signed `x` (AArch64 `sdot`);
    /// - `kernelRowBias`: `PackedConvWeights.kernelRowInputBias` when kernels may skip kernel rows
    ///   of padding (`PackedConvWeights.canSkipKernelRows`), else nil.
    let convolutionBiases: [(unsignedInputBias: UnsafePointer<Int32>, signedInputBias: UnsafePointer<Int32>, kernelRowBias: UnsafePointer<Int32>?)?]

    /// Per layer: whether it reads or writes an int16 tensor and so runs on the wide kernels
    /// (`ModelDescription.isWide`), decided once here; every other layer runs the int8 kernels.
    let wideLayers: [Bool]

    init(storage: ModelStorage) throws(WrenError) {
        self.storage = storage
        let description = try ModelReader.read(storage.bytes)
        self.description = description
        self.wideLayers = description.layers.map { description.isWide($0) }
        let base = storage.bytes.baseAddress!
        self.convolutionBiases = description.layers.map { layer in
            guard layer.op == .conv2d else { return nil }
            let input = description.tensors[layer.input]
            let rowSums = PackedConvWeights.kernelRowWeightSums(
                packed: (base + layer.weights.offset).assumingMemoryBound(to: Int8.self),
                outChannels: layer.outChannels, inChannels: input.channels, kernelSize: layer.kernelSize)
            let bias = (base + layer.bias.offset).assumingMemoryBound(to: Int32.self)
            let stride = PackedConvWeights.paddedChannels(layer.outChannels)
            let unsigned = UnsafeMutablePointer<Int32>.allocate(capacity: stride)
            let signed = UnsafeMutablePointer<Int32>.allocate(capacity: stride)
            for o in 0..<stride {
                // Σw is the sum of the kernel rows' sums. Wrapping is fine: the kernels' final sum
                // is the true accumulator, which fits in int32.
                var weightSum: Int32 = 0
                for ky in 0..<layer.kernelSize { weightSum &+= rowSums[ky * stride + o] }
                unsigned[o] = o < layer.outChannels ? bias[o] &- (input.zeroPoint &+ 128) &* weightSum : 0
                signed[o] = o < layer.outChannels ? bias[o] &- input.zeroPoint &* weightSum : 0
            }
            guard PackedConvWeights.canSkipKernelRows(kernelSize: layer.kernelSize, inChannels: input.channels, padding: layer.padding)
            else { return (UnsafePointer(unsigned), UnsafePointer(signed), nil) }
            let rows = PackedConvWeights.kernelRowInputBias(rowWeightSums: rowSums, inputZeroPoint: input.zeroPoint)
            let rowMemory = UnsafeMutablePointer<Int32>.allocate(capacity: rows.count)
            rowMemory.initialize(from: rows, count: rows.count)
            return (UnsafePointer(unsigned), UnsafePointer(signed), UnsafePointer(rowMemory))
        }
    }

    deinit {
        for biases in convolutionBiases {
            guard let biases else { continue }
            UnsafeMutablePointer(mutating: biases.unsignedInputBias).deallocate()
            UnsafeMutablePointer(mutating: biases.signedInputBias).deallocate()
            biases.kernelRowBias.map { UnsafeMutablePointer(mutating: $0).deallocate() }
        }
    }

    public var numClasses: Int { description.numClasses }
    public var input: InputInfo { description.input }
    public var bytes: UnsafeRawBufferPointer { storage.bytes }
}
