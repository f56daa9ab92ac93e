/// The fixed-size records of a `.wren` file (`formats/wren-v1.md` §2, §3, §5, §6), one type per
/// kind, each holding the values as they lie in the file (no checks, no meaning).
///
/// Each record lists its fields once, in `code(_:)`: field by field, with its offset (`Field`)
/// and its name. `ModelReader` decodes through that list (`RecordDecoder`, then validates the
/// values) and `ModelWriter` encodes through it (`RecordEncoder`), so the two cannot disagree.
///
/// **Adding a field** to a record is one edit here (a stored property, its `Field` offset and one
/// line in `code(_:)`), then giving it a meaning in `ModelReader` (validation) and `ModelWriter`
/// (where its value comes from); outside Swift only `formats/wren-v1.md` and the independent
/// `tools/wren_format.py` describe the layout.

/// What a record's `code(_:)` calls for each field: `RecordDecoder` reads the value at
/// `offset` (relative to the record) into it, `RecordEncoder` writes it there.
protocol RecordCoder {
    associatedtype Failure: Error
    mutating func u16(_ value: inout UInt16, _ offset: Int, _ field: String) throws(Failure)
    mutating func u32(_ value: inout UInt32, _ offset: Int, _ field: String) throws(Failure)
    mutating func u64(_ value: inout UInt64, _ offset: Int, _ field: String) throws(Failure)
    /// Exactly `count` bytes (the encoder writes what `value` holds and zeros up to `count`).
    mutating func bytes(_ value: inout [UInt8], _ offset: Int, count: Int, _ field: String) throws(Failure)
}

extension RecordCoder {
    mutating func i32(_ value: inout Int32, _ offset: Int, _ field: String) throws(Failure) {
        var raw = UInt32(bitPattern: value)
        try u32(&raw, offset, field)
        value = Int32(bitPattern: raw)
    }

    mutating func f32(_ value: inout Float, _ offset: Int, _ field: String) throws(Failure) {
        var raw = value.bitPattern
        try u32(&raw, offset, field)
        value = Float(bitPattern: raw)
    }
}

/// Reads a record at `base` in the file; field names in errors get `prefix` (e.g. `tensor[3].`).
struct RecordDecoder: RecordCoder {
    let reader: ByteReader
    let base: Int
    var prefix = ""

    mutating func u16(_ value: inout UInt16, _ offset: Int, _ field: String) throws(WrenError) {
        value = try reader.u16(prefix + field, at: base + offset)
    }

    mutating func u32(_ value: inout UInt32, _ offset: Int, _ field: String) throws(WrenError) {
        value = try reader.u32(prefix + field, at: base + offset)
    }

    mutating func u64(_ value: inout UInt64, _ offset: Int, _ field: String) throws(WrenError) {
        value = try reader.u64(prefix + field, at: base + offset)
    }

    mutating func bytes(_ value: inout [UInt8], _ offset: Int, count: Int, _ field: String) throws(WrenError) {
        try reader.require(prefix + field, offset: base + offset, length: count)
        value = Array(reader.bytes[(base + offset)..<(base + offset + count)])
    }
}

/// Writes records into `bytes` (zero-initialized, so reserved fields stay zero).
struct RecordEncoder: RecordCoder {
    typealias Failure = Never
    var bytes: ByteWriter
    var base = 0

    mutating func u16(_ value: inout UInt16, _ offset: Int, _ field: String) { bytes.store(value, at: base + offset) }
    mutating func u32(_ value: inout UInt32, _ offset: Int, _ field: String) { bytes.store(value, at: base + offset) }
    mutating func u64(_ value: inout UInt64, _ offset: Int, _ field: String) { bytes.store(value, at: base + offset) }

    mutating func bytes(_ value: inout [UInt8], _ offset: Int, count: Int, _ field: String) {
        precondition(value.count <= count, "\(field) holds \(value.count) bytes, the record has room for \(count)")
        bytes.store(value, at: base + offset)
    }
}

/// A fixed-size record: its size and its one list of fields.
protocol WrenRecord {
    static var size: Int { get }
    init()
    mutating func code<C: RecordCoder>(_ c: inout C) throws(C.Failure)
}

extension WrenRecord {
    /// Decodes the record at `offset`, which the caller has checked to lie inside the file.
    init(_ reader: ByteReader, at offset: Int, prefix: String = "") throws(WrenError) {
        self.init()
        try reader.require(prefix + "record", offset: offset, length: Self.size)
        var decoder = RecordDecoder(reader: reader, base: offset, prefix: prefix)
        try code(&decoder)
    }

    /// Writes the record at `offset` of `writer`.
    func encode(into writer: inout ByteWriter, at offset: Int) {
        precondition(offset >= 0 && offset + Self.size <= writer.bytes.count, "writer overran its own layout")
        var copy = self
        var encoder = RecordEncoder(bytes: writer, base: offset)
        writer = ByteWriter(count: 0)  // hand the buffer over without a copy
        copy.code(&encoder)
        writer = encoder.bytes
    }

    /// The record's `size` bytes.
    func encoded() -> [UInt8] {
        var writer = ByteWriter(count: Self.size)
        encode(into: &writer, at: 0)
        return writer.bytes
    }
}

extension WrenFormat {
    /// §2: the file header (64 bytes).
    public struct Header: WrenRecord, Sendable, Equatable {
        public static let size = 64
        public enum Field: Int {
            case magic = 0, major = 8, minor = 10, headerSize = 12, fileLength = 16, sectionCount = 24
            case sectionTableOffset = 28, checksum = 32, flags = 36
        }

        public var magic: [UInt8] = []
        public var major: UInt16 = 0
        public var minor: UInt16 = 0
        public var headerSize: UInt32 = 0
        public var fileLength: UInt64 = 0
        public var sectionCount: UInt32 = 0
        public var sectionTableOffset: UInt32 = 0
        public var checksum: UInt32 = 0
        public var flags: UInt32 = 0

        public init() {}

        mutating func code<C: RecordCoder>(_ c: inout C) throws(C.Failure) {
            try c.bytes(&magic, Field.magic.rawValue, count: WrenFormat.magic.count, "magic")
            try c.u16(&major, Field.major.rawValue, "major version")
            try c.u16(&minor, Field.minor.rawValue, "minor version")
            try c.u32(&headerSize, Field.headerSize.rawValue, "header size")
            try c.u64(&fileLength, Field.fileLength.rawValue, "file length")
            try c.u32(&sectionCount, Field.sectionCount.rawValue, "section count")
            try c.u32(&sectionTableOffset, Field.sectionTableOffset.rawValue, "section table offset")
            try c.u32(&checksum, Field.checksum.rawValue, "checksum")
            try c.u32(&flags, Field.flags.rawValue, "header flags")
        }
    }

    /// §3: one entry of the section table (32 bytes).
    public struct SectionEntry: WrenRecord, Sendable, Equatable {
        public static let size = 32
        public static let requiredFlag: UInt32 = 1
        public enum Field: Int { case kind = 0, flags = 4, offset = 8, length = 16, reserved = 24 }

        public var kind: UInt32 = 0
        public var flags: UInt32 = 0
        public var offset: UInt64 = 0
        public var length: UInt64 = 0

        public init() {}

        public init(kind: UInt32, flags: UInt32, offset: UInt64, length: UInt64) {
            self.kind = kind
            self.flags = flags
            self.offset = offset
            self.length = length
        }

        mutating func code<C: RecordCoder>(_ c: inout C) throws(C.Failure) {
            try c.u32(&kind, Field.kind.rawValue, "section kind")
            try c.u32(&flags, Field.flags.rawValue, "section flags")
            try c.u64(&offset, Field.offset.rawValue, "section offset")
            try c.u64(&length, Field.length.rawValue, "section length")
        }
    }

    /// §5: the `MODL` section's record (64 bytes).
    public struct ModelRecord: WrenRecord, Sendable, Equatable {
        public static let size = 64
        public enum Field: Int {
            case channels = 0, height = 4, width = 8, classCount = 12, mean = 16, std = 28, inputTensor = 40, roundingRule = 44
            case reserved = 48
        }

        public var channels: UInt32 = 0
        public var height: UInt32 = 0
        public var width: UInt32 = 0
        public var classCount: UInt32 = 0
        public var mean: [Float] = [0, 0, 0]
        public var std: [Float] = [0, 0, 0]
        public var inputTensor: UInt32 = 0
        public var roundingRule: UInt32 = 0

        public init() {}

        mutating func code<C: RecordCoder>(_ c: inout C) throws(C.Failure) {
            try c.u32(&channels, Field.channels.rawValue, "input channels")
            try c.u32(&height, Field.height.rawValue, "input height")
            try c.u32(&width, Field.width.rawValue, "input width")
            try c.u32(&classCount, Field.classCount.rawValue, "class count")
            for i in 0..<3 { try c.f32(&mean[i], Field.mean.rawValue + 4 * i, "input mean[\(i)]") }
            for i in 0..<3 { try c.f32(&std[i], Field.std.rawValue + 4 * i, "input std[\(i)]") }
            try c.u32(&inputTensor, Field.inputTensor.rawValue, "input tensor")
            try c.u32(&roundingRule, Field.roundingRule.rawValue, "rounding rule")
        }
    }

    /// §6: what precedes the `TENS` and `LAYR` records (8 bytes: u32 count, u32 reserved).
    public struct TableHeader: WrenRecord, Sendable, Equatable {
        public static let size = 8
        public enum Field: Int { case count = 0, reserved = 4 }

        public var count: UInt32 = 0

        public init() {}

        public init(count: UInt32) { self.count = count }

        mutating func code<C: RecordCoder>(_ c: inout C) throws(C.Failure) {
            try c.u32(&count, Field.count.rawValue, "count")
        }
    }

    /// §6.1: a tensor record (64 bytes).
    public struct TensorRecord: WrenRecord, Sendable, Equatable {
        public static let size = 64
        public static let nameCapacity = 40
        public enum Field: Int { case channels = 0, height = 4, width = 8, scale = 12, zeroPoint = 16, elementType = 20, name = 24 }

        public var channels: UInt32 = 0
        public var height: UInt32 = 0
        public var width: UInt32 = 0
        public var scale: Float = 0
        public var zeroPoint: Int32 = 0
        /// `ElementType` in version 2; reserved (written 0, ignored) in version 1.
        public var elementType: UInt32 = 0
        /// UTF-8, NUL-padded to `nameCapacity` bytes.
        public var name: [UInt8] = []

        public init() {}

        mutating func code<C: RecordCoder>(_ c: inout C) throws(C.Failure) {
            try c.u32(&channels, Field.channels.rawValue, "channels")
            try c.u32(&height, Field.height.rawValue, "height")
            try c.u32(&width, Field.width.rawValue, "width")
            try c.f32(&scale, Field.scale.rawValue, "scale")
            try c.i32(&zeroPoint, Field.zeroPoint.rawValue, "zero_point")
            try c.u32(&elementType, Field.elementType.rawValue, "element_type")
            try c.bytes(&name, Field.name.rawValue, count: Self.nameCapacity, "name")
        }
    }

    /// §6.2: a layer record (128 bytes).
    public struct LayerRecord: WrenRecord, Sendable, Equatable {
        public static let size = 128
        public static let blobSlots = 5
        /// Each blob slot is a u64 offset (relative to `DATA`) and a u64 length.
        public static let blobSlotSize = 16
        public static let reluFlag: UInt32 = 1
        public enum Field: Int {
            case op = 0, input = 4, output = 8, residual = 12, kernelSize = 16, stride = 20, padding = 24, flags = 28
            case residualMultiplier = 32, residualShift = 36, outChannels = 40, reserved = 44, blobs = 48
        }

        /// A blob slot: offset relative to `DATA`, length.
        public struct Blob: Sendable, Equatable {
            public var offset: UInt64 = 0
            public var length: UInt64 = 0
        }

        public var op: UInt32 = 0
        public var input: UInt32 = 0
        public var output: UInt32 = 0
        public var residual: UInt32 = 0
        public var kernelSize: UInt32 = 0
        public var stride: UInt32 = 0
        public var padding: UInt32 = 0
        public var flags: UInt32 = 0
        public var residualMultiplier: Int32 = 0
        public var residualShift: Int32 = 0
        public var outChannels: UInt32 = 0
        public var blobs = [Blob](repeating: Blob(), count: blobSlots)

        public init() {}

        /// Offset of blob slot `slot` in the record.
        public static func blobOffset(_ slot: Int) -> Int { Field.blobs.rawValue + blobSlotSize * slot }

        mutating func code<C: RecordCoder>(_ c: inout C) throws(C.Failure) {
            try c.u32(&op, Field.op.rawValue, "op")
            try c.u32(&input, Field.input.rawValue, "input")
            try c.u32(&output, Field.output.rawValue, "output")
            try c.u32(&residual, Field.residual.rawValue, "residual")
            try c.u32(&kernelSize, Field.kernelSize.rawValue, "kernel_size")
            try c.u32(&stride, Field.stride.rawValue, "stride")
            try c.u32(&padding, Field.padding.rawValue, "padding")
            try c.u32(&flags, Field.flags.rawValue, "flags")
            try c.i32(&residualMultiplier, Field.residualMultiplier.rawValue, "residual_multiplier")
            try c.i32(&residualShift, Field.residualShift.rawValue, "residual_shift")
            try c.u32(&outChannels, Field.outChannels.rawValue, "out_channels")
            for slot in 0..<Self.blobSlots {
                try c.u64(&blobs[slot].offset, Self.blobOffset(slot), "blob[\(slot)].offset")
                try c.u64(&blobs[slot].length, Self.blobOffset(slot) + 8, "blob[\(slot)].length")
            }
        }
    }
}
