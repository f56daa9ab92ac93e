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

    /// The header's values once checked.
    struct CheckedHeader {
        var major: UInt16
        var minor: UInt16
        var headerSize: Int
        var sectionCount: Int
        var sectionTableOffset: Int
        var checksum: UInt32
    }

    static func readHeader(_ r: ByteReader) throws(WrenError) -> CheckedHeader {
        typealias H = WrenFormat.Header
        guard r.count >= WrenFormat.magic.count else {
            if r.count == 0 || !WrenFormat.magic.starts(with: Array(r.bytes)) { throw .badMagic }
            throw .truncated(field: "header", offset: 0, needed: H.size, available: r.count)
        }
        for (i, expected) in WrenFormat.magic.enumerated() where r.bytes[i] != expected { throw .badMagic }
        try r.require("header", offset: 0, length: H.size)
        let h = try H(r, at: 0)
        let major = h.major
        let minor = h.minor
        guard major >= WrenFormat.majorVersion, major <= WrenFormat.latestMajorVersion else {
            throw .unsupportedVersion(major: Int(major), minor: Int(minor), supportedMajor: Int(WrenFormat.latestMajorVersion))
        }
        let headerSize = Int(h.headerSize)
        guard headerSize >= H.size, headerSize % 8 == 0 else {
            throw .invalidField(field: "header size", offset: H.Field.headerSize.rawValue, reason: "\(headerSize) is not a multiple of 8 at least \(H.size)")
        }
        let fileLength = h.fileLength
        guard fileLength == UInt64(r.count) else {
            if fileLength > UInt64(r.count) {
                throw .truncated(field: "file", offset: 0, needed: Int(clamping: fileLength), available: r.count)
            }
            throw .invalidField(field: "file length", offset: H.Field.fileLength.rawValue, reason: "header says \(fileLength) bytes, file has \(r.count)")
        }
        try r.require("header", offset: 0, length: headerSize)
        let computed = CRC32.wrenChecksum(r.bytes)
        guard h.checksum == computed else { throw .checksumMismatch(stored: h.checksum, computed: computed) }
        guard h.flags == 0 else {
            throw .invalidField(field: "header flags", offset: H.Field.flags.rawValue, reason: "unknown flags \(h.flags)")
        }
        let sectionCount = Int(h.sectionCount)
        guard sectionCount <= WrenFormat.Limits.maxSections else {
            throw .invalidField(field: "section count", offset: H.Field.sectionCount.rawValue, reason: "\(sectionCount) exceeds \(WrenFormat.Limits.maxSections)")
        }
        let tableOffset = Int(h.sectionTableOffset)
        guard tableOffset >= headerSize, tableOffset % 8 == 0 else {
            throw .invalidField(field: "section table offset", offset: H.Field.sectionTableOffset.rawValue, reason: "\(tableOffset) overlaps the header or is misaligned")
        }
        return CheckedHeader(major: major, minor: minor, headerSize: headerSize, sectionCount: sectionCount,
                             sectionTableOffset: tableOffset, checksum: h.checksum)
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

    static func readSectionTable(_ r: ByteReader, header: CheckedHeader) throws(WrenError) -> Sections {
        let entrySize = WrenFormat.SectionEntry.size
        let tableLength = header.sectionCount * entrySize
        try r.require("section table", offset: header.sectionTableOffset, length: tableLength)
        let tableEnd = header.sectionTableOffset + tableLength
        var found: [(kind: UInt32, section: Section, entryOffset: Int)] = []
        for index in 0..<header.sectionCount {
            let at = header.sectionTableOffset + index * entrySize
            typealias F = WrenFormat.SectionEntry.Field
            let entry = try WrenFormat.SectionEntry(r, at: at)
            let kind = entry.kind
            let flags = entry.flags
            let offset = try ByteReader.int(entry.offset, "section offset", at: at + F.offset.rawValue)
            let length = try ByteReader.int(entry.length, "section length", at: at + F.length.rawValue)
            guard flags & ~WrenFormat.SectionEntry.requiredFlag == 0 else {
                throw .invalidField(field: "section flags", offset: at + F.flags.rawValue, reason: "unknown flags \(flags)")
            }
            guard offset % WrenFormat.alignment == 0 else {
                throw .invalidField(field: "section offset", offset: at + F.offset.rawValue, reason: "\(offset) is not \(WrenFormat.alignment)-byte aligned")
            }
            guard offset >= tableEnd else {
                throw .invalidField(field: "section offset", offset: at + F.offset.rawValue, reason: "\(offset) overlaps the header or section table")
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
                throw .invalidField(field: "section offset", offset: at + F.offset.rawValue, reason: "section '\(fourCCText(kind))' overlaps '\(fourCCText(other.kind))'")
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
        typealias F = WrenFormat.ModelRecord.Field
        let o = s.offset
        let record = try WrenFormat.ModelRecord(r, at: o)
        let channels = Int(record.channels)
        let height = Int(record.height)
        let width = Int(record.width)
        let numClasses = Int(record.classCount)
        guard channels == 3 else {
            throw .invalidField(field: "input channels", offset: o + F.channels.rawValue, reason: "\(channels) (v1 models take 3-channel images)")
        }
        for (value, name, at) in [(height, "input height", o + F.height.rawValue), (width, "input width", o + F.width.rawValue)]
        where value < 1 || value > WrenFormat.Limits.maxDimension {
            throw .invalidField(field: name, offset: at, reason: "\(value) is outside 1...\(WrenFormat.Limits.maxDimension)")
        }
        guard numClasses >= 1, numClasses <= WrenFormat.Limits.maxClasses else {
            throw .invalidField(field: "class count", offset: o + F.classCount.rawValue, reason: "\(numClasses) is outside 1...\(WrenFormat.Limits.maxClasses)")
        }
        for c in 0..<3 {
            let m = record.mean[c]
            let d = record.std[c]
            guard m.isFinite else { throw .invalidField(field: "input mean[\(c)]", offset: o + F.mean.rawValue + 4 * c, reason: "not finite") }
            guard d.isFinite, d > 0 else { throw .invalidField(field: "input std[\(c)]", offset: o + F.std.rawValue + 4 * c, reason: "\(d) is not a positive finite number") }
        }
        let mean = record.mean
        let std = record.std
        let inputTensor = Int(record.inputTensor)
        let rounding = record.roundingRule
        guard rounding == WrenFormat.roundingRuleDoubleRounding || rounding == WrenFormat.roundingRuleSingleRounding else {
            throw .invalidField(field: "rounding rule", offset: o + F.roundingRule.rawValue, reason: "unknown rule \(rounding)")
        }
        let input = InputInfo(channels: channels, height: height, width: width, mean: mean, std: std, tensor: inputTensor)
        return (input, numClasses, rounding)
    }

    // MARK: TENS

    static func tableCount(_ r: ByteReader, _ s: Section, name: String, recordSize: Int, limit: Int) throws(WrenError) -> Int {
        guard s.length >= WrenFormat.TableHeader.size else {
            throw .truncated(field: "\(name) table", offset: s.offset, needed: WrenFormat.TableHeader.size, available: s.length)
        }
        let count = Int(try WrenFormat.TableHeader(r, at: s.offset, prefix: "\(name) ").count)
        guard count <= limit else {
            throw .invalidField(field: "\(name) count", offset: s.offset, reason: "\(count) exceeds \(limit)")
        }
        let needed = WrenFormat.TableHeader.size + count * recordSize
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
            typealias F = WrenFormat.TensorRecord.Field
            let o = s.offset + WrenFormat.TableHeader.size + index * size
            let record = try WrenFormat.TensorRecord(r, at: o, prefix: "tensor[\(index)].")
            let channels = Int(record.channels)
            let height = Int(record.height)
            let width = Int(record.width)
            let scale = record.scale
            let zeroPoint = record.zeroPoint
            for (value, field, at) in [(channels, "channels", F.channels), (height, "height", F.height), (width, "width", F.width)]
            where value < 1 || value > WrenFormat.Limits.maxDimension {
                throw .invalidField(field: "tensor[\(index)].\(field)", offset: o + at.rawValue, reason: "\(value) is outside 1...\(WrenFormat.Limits.maxDimension)")
            }
            guard channels * height * width <= WrenFormat.Limits.maxTensorElements else {
                throw .invalidField(field: "tensor[\(index)] shape", offset: o, reason: "\(channels)x\(height)x\(width) is too large")
            }
            guard scale.isFinite, scale > 0 else {
                throw .invalidField(field: "tensor[\(index)].scale", offset: o + F.scale.rawValue, reason: "\(scale) is not a positive finite number")
            }
            guard zeroPoint >= -128, zeroPoint <= 127 else {
                throw .invalidField(field: "tensor[\(index)].zero_point", offset: o + F.zeroPoint.rawValue, reason: "\(zeroPoint) is outside -128...127")
            }
            var elementType = ElementType.int8
            if major >= WrenFormat.elementTypeMajorVersion {
                let raw = record.elementType
                guard let known = ElementType(rawValue: raw) else {
                    throw .invalidField(field: "tensor[\(index)].element_type", offset: o + F.elementType.rawValue, reason: "unknown element type \(raw) (0 = int8, 1 = int16)")
                }
                elementType = known
                guard known != .int16 || zeroPoint == 0 else {
                    throw .invalidField(field: "tensor[\(index)].zero_point", offset: o + F.zeroPoint.rawValue, reason: "\(zeroPoint) in an int16 tensor, which is symmetric (zero point 0)")
                }
            }
            let name = try paddedName(record.name, at: o + F.name.rawValue, field: "tensor[\(index)].name")
            tensors.append(TensorInfo(name: name, channels: channels, height: height, width: width, scale: scale, zeroPoint: zeroPoint, elementType: elementType))
        }
        return tensors
    }

    /// A NUL-padded UTF-8 name field that starts at `offset` in the file.
    static func paddedName(_ padded: [UInt8], at offset: Int, field: String) throws(WrenError) -> String {
        var length = 0
        while length < padded.count && padded[length] != 0 { length += 1 }
        for i in length..<padded.count where padded[i] != 0 {
            throw .invalidField(field: field, offset: offset + i, reason: "bytes after the terminating NUL must be zero")
        }
        guard let text = String(validating: padded[0..<length], as: UTF8.self) else {
            throw .invalidField(field: field, offset: offset, reason: "not valid UTF-8")
        }
        return text
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
            typealias F = WrenFormat.LayerRecord.Field
            let o = s.offset + WrenFormat.TableHeader.size + index * size
            let name = "layer[\(index)]"
            let record = try WrenFormat.LayerRecord(r, at: o, prefix: "\(name).")
            guard let op = LayerOp(rawValue: record.op) else {
                throw .invalidField(field: "\(name).op", offset: o + F.op.rawValue, reason: "unknown operation \(record.op)")
            }
            func tensorRef(_ raw: UInt32) -> Int? { raw == WrenFormat.noTensor ? nil : Int(raw) }
            let output = tensorRef(record.output)
            let residual = tensorRef(record.residual)
            guard let input = tensorRef(record.input) else {
                throw .invalidField(field: "\(name).input", offset: o + F.input.rawValue, reason: "missing input tensor")
            }
            let kernel = Int(record.kernelSize)
            let stride = Int(record.stride)
            let padding = Int(record.padding)
            let flags = record.flags
            guard flags & ~WrenFormat.LayerRecord.reluFlag == 0 else {
                throw .invalidField(field: "\(name).flags", offset: o + F.flags.rawValue, reason: "unknown flags \(flags)")
            }
            let residualMultiplier = QuantizedMultiplier(multiplier: record.residualMultiplier, rightShift: record.residualShift)
            let outChannels = Int(record.outChannels)
            var blobs: [BlobRange] = []
            for slot in 0..<WrenFormat.LayerRecord.blobSlots {
                let at = o + WrenFormat.LayerRecord.blobOffset(slot)
                let field = "\(name).blob[\(slot)]"
                let relative = try ByteReader.int(record.blobs[slot].offset, "\(field).offset", at: at)
                let length = try ByteReader.int(record.blobs[slot].length, "\(field).length", at: at + 8)
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
                padding: padding, relu: flags & WrenFormat.LayerRecord.reluFlag != 0, residualMultiplier: residualMultiplier, outChannels: outChannels,
                weights: op == .channelAffineReLU ? .empty : blobs[0],
                bias: op == .channelAffineReLU ? .empty : blobs[1],
                multipliers: blobs[2], shifts: blobs[3],
                offsets: op == .channelAffineReLU ? blobs[1] : .empty))
            if op == .channelAffineReLU, blobs[0].length != 0 {
                throw .invalidField(field: "\(name).blob[0]", offset: o + WrenFormat.LayerRecord.blobOffset(0), reason: "unused by channel_affine_relu and must be empty")
            }
            if blobs[4].length != 0 {
                throw .invalidField(field: "\(name).blob[4]", offset: o + WrenFormat.LayerRecord.blobOffset(4), reason: "reserved and must be empty")
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
