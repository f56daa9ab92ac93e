/// What a validated `.wren` file describes. Blob ranges are absolute byte offsets into the file,
/// already checked to be in bounds, aligned and of the exact size their layer needs.

/// An activation tensor (int8, or int16 in a version-2 file), per image, stored NHWC at run time.
public struct TensorInfo: Sendable, Equatable {
    public var name: String
    public var channels: Int
    public var height: Int
    public var width: Int
    public var scale: Float
    public var zeroPoint: Int32
    public var elementType: ElementType

    public init(name: String, channels: Int, height: Int, width: Int, scale: Float, zeroPoint: Int32, elementType: ElementType = .int8) {
        self.elementType = elementType
        self.name = name
        self.channels = channels
        self.height = height
        self.width = width
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// Elements per image.
    public var elementCount: Int { channels * height * width }
    /// Bytes per image.
    public var byteCount: Int { elementCount * elementType.byteSize }
}

/// A byte range inside the file.
public struct BlobRange: Sendable, Equatable {
    public var offset: Int
    public var length: Int

    public init(offset: Int, length: Int) {
        self.offset = offset
        self.length = length
    }

    public static let empty = BlobRange(offset: 0, length: 0)
}

/// One layer record. Which blobs are used depends on `op` (see `formats/wren-v1.md`):
/// conv2d: weights int8 [O][kh][kw][I], bias int32 [O], multipliers int32 [O], shifts int32 [O];
/// channelAffineReLU: offsets int32 [C], multipliers int32 [C], shifts int32 [C];
/// averagePoolLinear: weights float32 [classes][C], bias float32 [classes].
public struct LayerInfo: Sendable, Equatable {
    public var op: LayerOp
    public var input: Int
    /// Nil for the classifier, whose output is the logits.
    public var output: Int?
    public var residual: Int?
    public var kernelSize: Int
    public var stride: Int
    public var padding: Int
    public var relu: Bool
    public var residualMultiplier: QuantizedMultiplier
    public var outChannels: Int
    public var weights: BlobRange
    public var bias: BlobRange
    public var multipliers: BlobRange
    public var shifts: BlobRange
    public var offsets: BlobRange

    public init(
        op: LayerOp, input: Int, output: Int?, residual: Int?, kernelSize: Int, stride: Int, padding: Int,
        relu: Bool, residualMultiplier: QuantizedMultiplier, outChannels: Int, weights: BlobRange,
        bias: BlobRange, multipliers: BlobRange, shifts: BlobRange, offsets: BlobRange
    ) {
        self.op = op
        self.input = input
        self.output = output
        self.residual = residual
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        self.relu = relu
        self.residualMultiplier = residualMultiplier
        self.outChannels = outChannels
        self.weights = weights
        self.bias = bias
        self.multipliers = multipliers
        self.shifts = shifts
        self.offsets = offsets
    }
}

/// Model-level facts from the MODL section.
public struct InputInfo: Sendable, Equatable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var mean: [Float]
    public var std: [Float]
    public var tensor: Int

    public init(channels: Int, height: Int, width: Int, mean: [Float], std: [Float], tensor: Int) {
        self.channels = channels
        self.height = height
        self.width = width
        self.mean = mean
        self.std = std
        self.tensor = tensor
    }
}

/// A whole validated file.
public struct ModelDescription: Sendable, Equatable {
    public var majorVersion: Int
    public var minorVersion: Int
    /// The MODL record's rounding rule (`WrenFormat.roundingRule*`).
    public var roundingRule: UInt32 = WrenFormat.roundingRuleDoubleRounding
    public var fileLength: Int
    public var checksum: UInt32
    public var input: InputInfo
    public var numClasses: Int
    public var metadata: [(key: String, value: String)]
    public var tensors: [TensorInfo]
    public var layers: [LayerInfo]

    public static func == (a: ModelDescription, b: ModelDescription) -> Bool {
        a.majorVersion == b.majorVersion && a.minorVersion == b.minorVersion && a.roundingRule == b.roundingRule
            && a.fileLength == b.fileLength
            && a.checksum == b.checksum && a.input == b.input && a.numClasses == b.numClasses
            && a.metadata.map({ $0.key }) == b.metadata.map({ $0.key })
            && a.metadata.map({ $0.value }) == b.metadata.map({ $0.value })
            && a.tensors == b.tensors && a.layers == b.layers
    }

    /// `WrenFormat.fractionBits` of layer `layer` in this file.
    @inlinable
    public func fractionBits(of layer: LayerInfo) -> Int32 {
        WrenFormat.fractionBits(roundingRule: roundingRule, op: layer.op, hasResidual: layer.residual != nil)
    }

    /// Whether layer `layer` reads or writes an int16 tensor: it then runs on the wide kernels
    /// (`KernelTable.wideConv2D`, `wideChannelAffineReLU`, `wideAveragePoolF32Linear`).
    @inlinable
    public func isWide(_ layer: LayerInfo) -> Bool {
        // No array here: this runs between layers, where nothing may allocate.
        if tensors[layer.input].elementType != .int8 { return true }
        if let output = layer.output, tensors[output].elementType != .int8 { return true }
        if let residual = layer.residual, tensors[residual].elementType != .int8 { return true }
        return false
    }

    /// The first metadata value stored under `key`.
    public func metadataValue(_ key: String) -> String? {
        for entry in metadata where entry.key == key { return entry.value }
        return nil
    }

    /// Class labels from the `labels` metadata entry (one per line), when present and complete.
    public var labels: [String]? {
        guard let text = metadataValue("labels") else { return nil }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return lines.count == numClasses ? lines : nil
    }
}
