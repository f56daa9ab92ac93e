/// Byte layout of `.wren` version 1 (little-endian throughout). `formats/wren-v1.md` is the
/// normative description; these constants and the record types in Records.swift (`Header`,
/// `SectionEntry`, `ModelRecord`, `TableHeader`, `TensorRecord`, `LayerRecord`: each field's
/// offset and the one field list both directions go through) are its single source in code,
/// shared by `ModelReader` and `ModelWriter`.
public enum WrenFormat {
    /// `\x89WREN\r\n\x1a`: a non-ASCII first byte and a CR-LF/EOF tail catch text-mode mangling, as PNG's does.
    public static let magic: [UInt8] = [0x89, 0x57, 0x52, 0x45, 0x4E, 0x0D, 0x0A, 0x1A]
    /// The version written for files whose tensors are all int8 (readable by every 1.x reader).
    public static let majorVersion: UInt16 = 1
    public static let minorVersion: UInt16 = 0
    /// Version 2.0 gives the tensor record's offset-20 field a meaning (the element type, so int16
    /// tensors exist). A 1.0 reader ignores reserved fields and reads a higher minor version as 1.0,
    /// so only a major step makes it refuse such a file instead of misreading it (§8). Writers
    /// write 2 only when some tensor is int16.
    public static let elementTypeMajorVersion: UInt16 = 2
    /// The highest major version this reader implements (it reads 1 and 2).
    public static let latestMajorVersion: UInt16 = 2

    /// The major version a file with these element types is written as.
    public static func majorVersion(writing types: [ElementType]) -> UInt16 {
        types.contains(where: { $0 != .int8 }) ? elementTypeMajorVersion : majorVersion
    }
    /// Every section and every blob starts at a multiple of this.
    public static let alignment = 64

    /// Section kinds as little-endian four-character codes.
    public enum SectionKind {
        public static let metadata = fourCC("META")
        public static let model = fourCC("MODL")
        public static let tensors = fourCC("TENS")
        public static let layers = fourCC("LAYR")
        public static let data = fourCC("DATA")
    }

    /// Marks an absent tensor reference (no residual; the classifier's output).
    public static let noTensor: UInt32 = 0xFFFF_FFFF
    /// Rounding rule 1: gemmlowp SaturatingRoundingDoublingHighMul + RoundingDivideByPOT.
    public static let roundingRuleDoubleRounding: UInt32 = 1
    /// Rounding rule 2: rule 1, except that a convolution's residual sum and a channel affine's
    /// offset sum are rounded once, from `singleRoundingFractionBits` fraction bits (§7.1).
    public static let roundingRuleSingleRounding: UInt32 = 2
    public static let singleRoundingFractionBits: Int32 = 8

    /// The fraction bits a layer's sum is rounded from under `roundingRule`: 8 for a convolution
    /// with a residual or a channel affine in a rule-2 file (their multipliers and offsets are
    /// scaled by 2^8), else 0. The writer scales by it and the kernels round by it.
    @inlinable
    public static func fractionBits(roundingRule: UInt32, op: LayerOp, hasResidual: Bool) -> Int32 {
        guard roundingRule == roundingRuleSingleRounding, op == .channelAffineReLU || (op == .conv2d && hasResidual) else { return 0 }
        return singleRoundingFractionBits
    }

    /// Caps that keep hostile files from asking for absurd work or memory.
    public enum Limits {
        public static let maxSections = 64
        public static let maxTensors = 4096
        public static let maxLayers = 4096
        public static let maxDimension = 1 << 15
        public static let maxTensorElements = 1 << 28
        public static let maxMetadataEntries = 1024
        public static let maxClasses = 1 << 20
    }

    public static func fourCC(_ text: StaticString) -> UInt32 {
        precondition(text.utf8CodeUnitCount == 4)
        let p = text.utf8Start
        return UInt32(p[0]) | UInt32(p[1]) << 8 | UInt32(p[2]) << 16 | UInt32(p[3]) << 24
    }
}

/// How an activation tensor's elements are stored (the tensor record's element type, version 2).
public enum ElementType: UInt32, Sendable {
    /// int8, asymmetric: real = scale · (q − zero point), q in −128…127.
    case int8 = 0
    /// int16, symmetric (zero point 0): real = scale · q, q in −32767…32767 (TFLite's 16x8 scheme).
    case int16 = 1

    @inlinable
    public var byteSize: Int { self == .int8 ? 1 : 2 }
    /// The smallest value a layer writes (int16 is kept symmetric: −32768 is never written).
    @inlinable
    public var minimum: Int32 { self == .int8 ? -128 : -32767 }
    @inlinable
    public var maximum: Int32 { self == .int8 ? 127 : 32767 }
    /// The largest |q − zero point| a valid tensor of this type holds: 255 for int8 (any zero
    /// point), 32767 for int16 (zero point 0). The accumulator and pooling bounds use it.
    @inlinable
    public var maxCenteredMagnitude: Int64 { self == .int8 ? 255 : 32767 }

    @inlinable @inline(__always)
    public func load(_ base: UnsafeRawPointer, _ index: Int) -> Int32 {
        self == .int8 ? Int32(base.load(fromByteOffset: index, as: Int8.self))
            : Int32(base.load(fromByteOffset: index &* 2, as: Int16.self))
    }

    /// Stores `value`, already clamped to `minimum...maximum`.
    @inlinable @inline(__always)
    public func store(_ value: Int32, _ base: UnsafeMutableRawPointer, _ index: Int) {
        if self == .int8 {
            base.storeBytes(of: Int8(truncatingIfNeeded: value), toByteOffset: index, as: Int8.self)
        } else {
            base.storeBytes(of: Int16(truncatingIfNeeded: value), toByteOffset: index &* 2, as: Int16.self)
        }
    }
}

/// The operations a v1 layer record can hold.
public enum LayerOp: UInt32, Sendable {
    /// int8 convolution, int32 accumulation, per-channel requantization, optional ReLU and residual add.
    case conv2d = 1
    /// Per-channel affine (an unfoldable batch-norm) + ReLU as a requantization.
    case channelAffineReLU = 2
    /// Global average pool of an int8 tensor, then a float32 fully connected classifier.
    case averagePoolLinear = 3
}
