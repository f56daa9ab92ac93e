/// Reads and validates a `.wren` v1 file (layout: `formats/wren-v1.md`, constants: `WrenFormat`).
///
/// Discipline (as GGUF and safetensors readers do): every count, offset and length is checked
/// against the bytes that are there, with overflow-checked arithmetic, before anything is read
/// through it; then the layer graph is checked for shapes, ranges and order, so the runtime can
/// run the model without checking anything again.
public enum ModelReader {
    public static func read(_ bytes: UnsafeRawBufferPointer) throws(WrenError) -> ModelDescription {
        let reader = ByteReader(bytes: bytes)
        let header = try readHeader(reader)
        let sections = try readSectionTable(reader, header: header)
        let model = try readModelSection(reader, sections.model)
        let tensors = try readTensorTable(reader, sections.tensors, major: header.major)
        let metadata = try readMetadata(reader, sections.metadata)
        let layers = try readLayerTable(reader, sections.layers, data: sections.data)
        let description = ModelDescription(
            majorVersion: Int(header.major), minorVersion: Int(header.minor), roundingRule: model.roundingRule, fileLength: bytes.count,
            checksum: header.checksum, input: model.input, numClasses: model.numClasses, metadata: metadata,
            tensors: tensors, layers: layers)
        try GraphValidator.validate(description, reader: reader, modelRecord: sections.model, layerTable: sections.layers)
        return description
    }

    // MARK: Header

    struct Header {
        var major: UInt16
        var minor: UInt16
        var headerSize: Int
        var sectionCount: Int
        var sectionTableOffset: Int
        var checksum: UInt32
    }

    static func readHeader(_ r: ByteReader) throws(WrenError) -> Header {
        typealias H = WrenFormat.Header
        guard r.count >= WrenFormat.magic.count else {
            if r.count == 0 || !WrenFormat.magic.starts(with: Array(r.bytes)) { throw .badMagic }
            throw .truncated(field: "header", offset: 0, needed: H.size, available: r.count)
        }
        for (i, expected) in WrenFormat.magic.enumerated() where r.bytes[i] != expected { throw .badMagic }
        try r.require("header", offset: 0, length: H.size)
        let major = try r.u16("major version", at: H.majorOffset)
        let minor = try r.u16("minor version", at: H.minorOffset)
        guard major >= WrenFormat.majorVersion, major <= WrenFormat.latestMajorVersion else {
            throw .unsupportedVersion(major: Int(major), minor: Int(minor), supportedMajor: Int(WrenFormat.latestMajorVersion))
        }
        let headerSize = Int(try r.u32("header size", at: H.headerSizeOffset))
        guard headerSize >= H.size, headerSize % 8 == 0 else {
            throw .invalidField(field: "header size", offset: H.headerSizeOffset, reason: "\(headerSize) is not a multiple of 8 at least \(H.size)")
        }
        let fileLength = try r.u64("file length", at: H.fileLengthOffset)
        guard fileLength == UInt64(r.count) else {
            if fileLength > UInt64(r.count) {
                throw .truncated(field: "file", offset: 0, needed: Int(clamping: fileLength), available: r.count)
            }
            throw .invalidField(field: "file length", offset: H.fileLengthOffset, reason: "header says \(fileLength) bytes, file has \(r.count)")
        }
        try r.require("header", offset: 0, length: headerSize)
        let stored = try r.u32("checksum", at: H.checksumOffset)
        let computed = CRC32.wrenChecksum(r.bytes)
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }
        let flags = try r.u32("header flags", at: H.flagsOffset)
        guard flags == 0 else {
            throw .invalidField(field: "header flags", offset: H.flagsOffset, reason: "unknown flags \(flags)")
        }
        let sectionCount = Int(try r.u32("section count", at: H.sectionCountOffset))
        guard sectionCount <= WrenFormat.Limits.maxSections else {
            throw .invalidField(field: "section count", offset: H.sectionCountOffset, reason: "\(sectionCount) exceeds \(WrenFormat.Limits.maxSections)")
        }
        let tableOffset = Int(try r.u32("section table offset", at: H.sectionTableOffsetOffset))
        guard tableOffset >= headerSize, tableOffset % 8 == 0 else {
            throw .invalidField(field: "section table offset", offset: H.sectionTableOffsetOffset, reason: "\(tableOffset) overlaps the header or is misaligned")
        }
        return Header(major: major, minor: minor, headerSize: headerSize, sectionCount: sectionCount,
                      sectionTableOffset: tableOffset, checksum: stored)
    }

    // MARK: Sections

    struct Section {
        var offset: Int
        var length: Int
    }

    struct Sections {
        var metadata: Section
        var model: Section
        var tensors: Section
        var layers: Section
        var data: Section
    }

    static func readSectionTable(_ r: ByteReader, header: Header) throws(WrenError) -> Sections {
        let entrySize = WrenFormat.SectionEntry.size
        let tableLength = header.sectionCount * entrySize
        try r.require("section table", offset: header.sectionTableOffset, length: tableLength)
        let tableEnd = header.sectionTableOffset + tableLength
        var found: [(kind: UInt32, section: Section, entryOffset: Int)] = []
        for index in 0..<header.sectionCount {
            let at = header.sectionTableOffset + index * entrySize
            let kind = try r.u32("section kind", at: at)
            let flags = try r.u32("section flags", at: at + 4)
            let offset = try r.offset64("section offset", at: at + 8)
            let length = try r.offset64("section length", at: at + 16)
            guard flags & ~WrenFormat.SectionEntry.requiredFlag == 0 else {
                throw .invalidField(field: "section flags", offset: at + 4, reason: "unknown flags \(flags)")
            }
            guard offset % WrenFormat.alignment == 0 else {
                throw .invalidField(field: "section offset", offset: at + 8, reason: "\(offset) is not \(WrenFormat.alignment)-byte aligned")
            }
            guard offset >= tableEnd else {
                throw .invalidField(field: "section offset", offset: at + 8, reason: "\(offset) overlaps the header or section table")
            }
            try r.require("section \(fourCCText(kind))", offset: offset, length: length)
            let known = [WrenFormat.SectionKind.metadata, WrenFormat.SectionKind.model, WrenFormat.SectionKind.tensors,
                         WrenFormat.SectionKind.layers, WrenFormat.SectionKind.data].contains(kind)
            if !known {
                // A later minor version may add sections; only those marked required must be understood.
                if flags & WrenFormat.SectionEntry.requiredFlag != 0 {
                    throw .invalidField(field: "section kind", offset: at, reason: "required section '\(fourCCText(kind))' is not known to this reader")
                }
            }
            for other in found where other.kind == kind {
                throw .invalidField(field: "section kind", offset: at, reason: "duplicate section '\(fourCCText(kind))'")
            }
            for other in found where offset < other.section.offset + other.section.length && other.section.offset < offset + length {
                throw .invalidField(field: "section offset", offset: at + 8, reason: "section '\(fourCCText(kind))' overlaps '\(fourCCText(other.kind))'")
            }
            found.append((kind, Section(offset: offset, length: length), at))
        }
        func section(_ kind: UInt32) throws(WrenError) -> Section {
            for entry in found where entry.kind == kind { return entry.section }
            throw .invalidField(field: "section table", offset: header.sectionTableOffset, reason: "required section '\(fourCCText(kind))' is missing")
        }
        return Sections(
            metadata: try section(WrenFormat.SectionKind.metadata), model: try section(WrenFormat.SectionKind.model),
            tensors: try section(WrenFormat.SectionKind.tensors), layers: try section(WrenFormat.SectionKind.layers),
            data: try section(WrenFormat.SectionKind.data))
    }

    // MARK: MODL

    static func readModelSection(_ r: ByteReader, _ s: Section) throws(WrenError) -> (input: InputInfo, numClasses: Int, roundingRule: UInt32) {
        guard s.length >= WrenFormat.ModelRecord.size else {
            throw .truncated(field: "MODL section", offset: s.offset, needed: WrenFormat.ModelRecord.size, available: s.length)
        }
        let o = s.offset
        let channels = Int(try r.u32("input channels", at: o))
        let height = Int(try r.u32("input height", at: o + 4))
        let width = Int(try r.u32("input width", at: o + 8))
        let numClasses = Int(try r.u32("class count", at: o + 12))
        guard channels == 3 else {
            throw .invalidField(field: "input channels", offset: o, reason: "\(channels) (v1 models take 3-channel images)")
        }
        for (value, name, at) in [(height, "input height", o + 4), (width, "input width", o + 8)]
        where value < 1 || value > WrenFormat.Limits.maxDimension {
            throw .invalidField(field: name, offset: at, reason: "\(value) is outside 1...\(WrenFormat.Limits.maxDimension)")
        }
        guard numClasses >= 1, numClasses <= WrenFormat.Limits.maxClasses else {
            throw .invalidField(field: "class count", offset: o + 12, reason: "\(numClasses) is outside 1...\(WrenFormat.Limits.maxClasses)")
        }
        var mean: [Float] = []
        var std: [Float] = []
        for c in 0..<3 {
            let m = try r.f32("input mean[\(c)]", at: o + 16 + 4 * c)
            let d = try r.f32("input std[\(c)]", at: o + 28 + 4 * c)
            guard m.isFinite else { throw .invalidField(field: "input mean[\(c)]", offset: o + 16 + 4 * c, reason: "not finite") }
            guard d.isFinite, d > 0 else { throw .invalidField(field: "input std[\(c)]", offset: o + 28 + 4 * c, reason: "\(d) is not a positive finite number") }
            mean.append(m)
            std.append(d)
        }
        let inputTensor = Int(try r.u32("input tensor", at: o + 40))
        let rounding = try r.u32("rounding rule", at: o + 44)
        guard rounding == WrenFormat.roundingRuleDoubleRounding || rounding == WrenFormat.roundingRuleSingleRounding else {
            throw .invalidField(field: "rounding rule", offset: o + 44, reason: "unknown rule \(rounding)")
        }
        let input = InputInfo(channels: channels, height: height, width: width, mean: mean, std: std, tensor: inputTensor)
        return (input, numClasses, rounding)
    }

    // MARK: TENS

    static func tableCount(_ r: ByteReader, _ s: Section, name: String, recordSize: Int, limit: Int) throws(WrenError) -> Int {
        guard s.length >= WrenFormat.tableHeaderSize else {
            throw .truncated(field: "\(name) table", offset: s.offset, needed: WrenFormat.tableHeaderSize, available: s.length)
        }
        let count = Int(try r.u32("\(name) count", at: s.offset))
        guard count <= limit else {
            throw .invalidField(field: "\(name) count", offset: s.offset, reason: "\(count) exceeds \(limit)")
        }
        let needed = WrenFormat.tableHeaderSize + count * recordSize
        guard needed <= s.length else {
            throw .truncated(field: "\(name) table", offset: s.offset, needed: needed, available: s.length)
        }
        return count
    }

    /// `major` decides what offset 20 means: reserved and ignored in version 1 (as a 1.0 reader
    /// did), the element type from version 2 on.
    static func readTensorTable(_ r: ByteReader, _ s: Section, major: UInt16 = WrenFormat.majorVersion) throws(WrenError) -> [TensorInfo] {
        let size = WrenFormat.TensorRecord.size
        let count = try tableCount(r, s, name: "tensor", recordSize: size, limit: WrenFormat.Limits.maxTensors)
        var tensors: [TensorInfo] = []
        for index in 0..<count {
            let o = s.offset + WrenFormat.tableHeaderSize + index * size
            let channels = Int(try r.u32("tensor[\(index)].channels", at: o))
            let height = Int(try r.u32("tensor[\(index)].height", at: o + 4))
            let width = Int(try r.u32("tensor[\(index)].width", at: o + 8))
            let scale = try r.f32("tensor[\(index)].scale", at: o + 12)
            let zeroPoint = try r.i32("tensor[\(index)].zero_point", at: o + 16)
            for (value, field, at) in [(channels, "channels", o), (height, "height", o + 4), (width, "width", o + 8)]
            where value < 1 || value > WrenFormat.Limits.maxDimension {
                throw .invalidField(field: "tensor[\(index)].\(field)", offset: at, reason: "\(value) is outside 1...\(WrenFormat.Limits.maxDimension)")
            }
            guard channels * height * width <= WrenFormat.Limits.maxTensorElements else {
                throw .invalidField(field: "tensor[\(index)] shape", offset: o, reason: "\(channels)x\(height)x\(width) is too large")
            }
            guard scale.isFinite, scale > 0 else {
                throw .invalidField(field: "tensor[\(index)].scale", offset: o + 12, reason: "\(scale) is not a positive finite number")
            }
            guard zeroPoint >= -128, zeroPoint <= 127 else {
                throw .invalidField(field: "tensor[\(index)].zero_point", offset: o + 16, reason: "\(zeroPoint) is outside -128...127")
            }
            var elementType = ElementType.int8
            if major >= WrenFormat.elementTypeMajorVersion {
                let typeOffset = o + WrenFormat.TensorRecord.elementTypeOffset
                let raw = try r.u32("tensor[\(index)].element_type", at: typeOffset)
                guard let known = ElementType(rawValue: raw) else {
                    throw .invalidField(field: "tensor[\(index)].element_type", offset: typeOffset, reason: "unknown element type \(raw) (0 = int8, 1 = int16)")
                }
                elementType = known
                guard known != .int16 || zeroPoint == 0 else {
                    throw .invalidField(field: "tensor[\(index)].zero_point", offset: o + 16, reason: "\(zeroPoint) in an int16 tensor, which is symmetric (zero point 0)")
                }
            }
            let name = try readName(r, at: o + 24, capacity: WrenFormat.TensorRecord.nameCapacity, field: "tensor[\(index)].name")
            tensors.append(TensorInfo(name: name, channels: channels, height: height, width: width, scale: scale, zeroPoint: zeroPoint, elementType: elementType))
        }
        return tensors
    }

    /// A NUL-padded UTF-8 name field.
    static func readName(_ r: ByteReader, at offset: Int, capacity: Int, field: String) throws(WrenError) -> String {
        try r.require(field, offset: offset, length: capacity)
        var length = 0
        while length < capacity && r.bytes[offset + length] != 0 { length += 1 }
        for i in length..<capacity where r.bytes[offset + i] != 0 {
            throw .invalidField(field: field, offset: offset + i, reason: "bytes after the terminating NUL must be zero")
        }
        return try r.utf8(field, at: offset, length: length)
    }

    // MARK: META

    static func readMetadata(_ r: ByteReader, _ s: Section) throws(WrenError) -> [(key: String, value: String)] {
        guard s.length >= 4 else { throw .truncated(field: "META section", offset: s.offset, needed: 4, available: s.length) }
        let count = Int(try r.u32("metadata count", at: s.offset))
        guard count <= WrenFormat.Limits.maxMetadataEntries else {
            throw .invalidField(field: "metadata count", offset: s.offset, reason: "\(count) exceeds \(WrenFormat.Limits.maxMetadataEntries)")
        }
        let end = s.offset + s.length
        var at = s.offset + 4
        var entries: [(key: String, value: String)] = []
        for index in 0..<count {
            var parts: [String] = []
            for part in ["key", "value"] {
                let field = "metadata[\(index)].\(part)"
                guard at + 4 <= end else { throw .truncated(field: field, offset: at, needed: 4, available: max(0, end - at)) }
                let length = Int(try r.u32("\(field) length", at: at))
                at += 4
                guard length <= end - at else { throw .truncated(field: field, offset: at, needed: length, available: end - at) }
                parts.append(try r.utf8(field, at: at, length: length))
                at += length
            }
            entries.append((parts[0], parts[1]))
        }
        return entries
    }

    // MARK: LAYR

    static func readLayerTable(_ r: ByteReader, _ s: Section, data: Section) throws(WrenError) -> [LayerInfo] {
        let size = WrenFormat.LayerRecord.size
        let count = try tableCount(r, s, name: "layer", recordSize: size, limit: WrenFormat.Limits.maxLayers)
        var layers: [LayerInfo] = []
        for index in 0..<count {
            let o = s.offset + WrenFormat.tableHeaderSize + index * size
            let name = "layer[\(index)]"
            let rawOp = try r.u32("\(name).op", at: o)
            guard let op = LayerOp(rawValue: rawOp) else {
                throw .invalidField(field: "\(name).op", offset: o, reason: "unknown operation \(rawOp)")
            }
            func tensorRef(_ field: String, _ at: Int) throws(WrenError) -> Int? {
                let raw = try r.u32("\(name).\(field)", at: at)
                return raw == WrenFormat.noTensor ? nil : Int(raw)
            }
            let input = try tensorRef("input", o + 4)
            let output = try tensorRef("output", o + 8)
            let residual = try tensorRef("residual", o + 12)
            guard let input else { throw .invalidField(field: "\(name).input", offset: o + 4, reason: "missing input tensor") }
            let kernel = Int(try r.u32("\(name).kernel_size", at: o + 16))
            let stride = Int(try r.u32("\(name).stride", at: o + 20))
            let padding = Int(try r.u32("\(name).padding", at: o + 24))
            let flags = try r.u32("\(name).flags", at: o + 28)
            guard flags & ~1 == 0 else { throw .invalidField(field: "\(name).flags", offset: o + 28, reason: "unknown flags \(flags)") }
            let residualMultiplier = QuantizedMultiplier(
                multiplier: try r.i32("\(name).residual_multiplier", at: o + 32),
                rightShift: try r.i32("\(name).residual_shift", at: o + 36))
            let outChannels = Int(try r.u32("\(name).out_channels", at: o + 40))
            var blobs: [BlobRange] = []
            for slot in 0..<WrenFormat.LayerRecord.blobSlots {
                let at = o + WrenFormat.LayerRecord.blobTableOffset + 16 * slot
                let field = "\(name).blob[\(slot)]"
                let relative = try r.offset64("\(field).offset", at: at)
                let length = try r.offset64("\(field).length", at: at + 8)
                if length == 0 {
                    guard relative == 0 else { throw .invalidField(field: "\(field).offset", offset: at, reason: "an empty blob must have offset 0") }
                    blobs.append(.empty)
                    continue
                }
                guard relative % WrenFormat.alignment == 0 else {
                    throw .invalidField(field: "\(field).offset", offset: at, reason: "\(relative) is not \(WrenFormat.alignment)-byte aligned")
                }
                let (end, overflow) = relative.addingReportingOverflow(length)
                guard !overflow, end <= data.length else {
                    throw .invalidField(field: "\(field)", offset: at, reason: "range \(relative)..<\(relative &+ length) lies outside the DATA section (\(data.length) bytes)")
                }
                blobs.append(BlobRange(offset: data.offset + relative, length: length))
            }
            layers.append(LayerInfo(
                op: op, input: input, output: output, residual: residual, kernelSize: kernel, stride: stride,
                padding: padding, relu: flags & 1 != 0, residualMultiplier: residualMultiplier, outChannels: outChannels,
                weights: op == .channelAffineReLU ? .empty : blobs[0],
                bias: op == .channelAffineReLU ? .empty : blobs[1],
                multipliers: blobs[2], shifts: blobs[3],
                offsets: op == .channelAffineReLU ? blobs[1] : .empty))
            if op == .channelAffineReLU, blobs[0].length != 0 {
                throw .invalidField(field: "\(name).blob[0]", offset: o + WrenFormat.LayerRecord.blobTableOffset, reason: "unused by channel_affine_relu and must be empty")
            }
            if blobs[4].length != 0 {
                throw .invalidField(field: "\(name).blob[4]", offset: o + WrenFormat.LayerRecord.blobTableOffset + 64, reason: "reserved and must be empty")
            }
        }
        return layers
    }
}

func fourCCText(_ kind: UInt32) -> String {
    var text = ""
    for i in 0..<4 {
        let byte = UInt8((kind >> UInt32(8 * i)) & 0xFF)
        text.append(byte >= 0x20 && byte < 0x7F ? Character(Unicode.Scalar(byte)) : "?")
    }
    return text
}
