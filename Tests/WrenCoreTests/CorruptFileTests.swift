import Testing
@testable import WrenCore
import WrenTestSupport

/// A catalogue of corrupted `.wren` files, one test per kind of damage, each made from a valid
/// synthetic file `ModelWriter` writes (`SyntheticFile`). Every edit past the header is resealed
/// with a correct CRC, so the check that fires is the validator's own. Each test names the exact
/// `WrenError` case, the field and the offset it expects; a trap anywhere would crash the run
/// instead of passing.
@Suite struct CorruptFileTests {
    typealias Kind = WrenFormat.SectionKind

    static func valid() throws -> WrenFileEditor { WrenFileEditor(try SyntheticFile.plain().bytes) }

    static func validDescription() throws -> ModelDescription {
        try SyntheticFile.plain().bytes.withUnsafeBytes { raw throws(WrenError) in try ModelReader.read(raw) }
    }

    /// Expects `.invalidField` naming `field` at `offset`, with `reason` in its explanation, from the
    /// reader and from `WrenModel(bytes:)` alike.
    static func expectInvalidField(
        _ file: WrenFileEditor, field: String, offset: Int, reason: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let error = wrenReadError(file.bytes)
        guard case .invalidField(let gotField, let gotOffset, let gotReason)? = error else {
            Issue.record("expected invalid \(field) at \(offset), got \(error.map(String.init(describing:)) ?? "no error")",
                         sourceLocation: sourceLocation)
            return
        }
        #expect(gotField == field, sourceLocation: sourceLocation)
        #expect(gotOffset == offset, "\(gotField): \(gotReason)", sourceLocation: sourceLocation)
        #expect(gotReason.contains(reason), "reason: \(gotReason)", sourceLocation: sourceLocation)
        #expect(error!.description.contains(field), "description: \(error!.description)", sourceLocation: sourceLocation)
        expectModelLoadFails(file, with: error!, sourceLocation: sourceLocation)
    }

    static func expectError(_ file: WrenFileEditor, _ expected: WrenError, naming text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = wrenReadError(file.bytes)
        #expect(error == expected, sourceLocation: sourceLocation)
        #expect(error?.description.contains(text) == true, "description: \(error?.description ?? "none")", sourceLocation: sourceLocation)
        if let error { expectModelLoadFails(file, with: error, sourceLocation: sourceLocation) }
    }

    static func expectModelLoadFails(_ file: WrenFileEditor, with expected: WrenError, sourceLocation: SourceLocation) {
        do {
            _ = try WrenModel(bytes: file.bytes)
            Issue.record("WrenModel(bytes:) accepted a file ModelReader rejects", sourceLocation: sourceLocation)
        } catch {
            #expect(error == expected, sourceLocation: sourceLocation)
        }
    }

    // MARK: Truncation

    @Test func truncationAtEveryOffsetIsRejected() throws {
        let bytes = try Self.valid().bytes
        bytes.withUnsafeBytes { raw in
            for length in 0..<bytes.count {
                let expected: WrenError = switch length {
                case 0: .badMagic
                case ..<WrenFormat.Header.size: .truncated(field: "header", offset: 0, needed: WrenFormat.Header.size, available: length)
                default: .truncated(field: "file", offset: 0, needed: bytes.count, available: length)
                }
                var got: WrenError?
                do throws(WrenError) { _ = try ModelReader.read(UnsafeRawBufferPointer(rebasing: raw[0..<length])) } catch { got = error }
                if got != expected {
                    Issue.record("truncated to \(length) bytes: \(got.map(String.init(describing:)) ?? "accepted"), expected \(expected)")
                    return
                }
            }
        }
    }

    /// Truncated files whose header claims the shorter length, with a valid checksum: the section
    /// bounds alone must catch the missing bytes. Every offset in the first 1024 bytes and around
    /// every section boundary, then a stride through the rest (each case re-checksums the file).
    @Test func truncationWithConsistentHeaderIsRejected() throws {
        let valid = try Self.valid()
        let count = valid.bytes.count
        var lengths = Set(WrenFormat.Header.size..<min(1024, count))
        for section in valid.sections {
            for edge in [section.offset, section.offset + section.length] {
                for delta in -2...2 where (WrenFormat.Header.size..<count).contains(edge + delta) { lengths.insert(edge + delta) }
            }
        }
        lengths.formUnion(stride(from: 1024, to: count, by: max(1, (count - 1024) / 5000)))
        lengths.insert(count - 1)
        for length in lengths.sorted() {
            var file = WrenFileEditor(Array(valid.bytes[0..<length]))
            file.setU64(UInt64(length), at: WrenFormat.Header.Field.fileLength.rawValue)
            file.reseal()
            guard case .truncated(let field, _, _, _)? = wrenReadError(file.bytes), field.hasPrefix("section") else {
                Issue.record("truncated to \(length) of \(count) bytes: \(wrenReadError(file.bytes).map(String.init(describing:)) ?? "accepted")")
                return
            }
        }
    }

    // MARK: Header

    @Test func wrongMagicIsRejected() throws {
        for index in 0..<WrenFormat.magic.count {
            var file = try Self.valid()
            file.bytes[index] ^= 0x20
            Self.expectError(file, .badMagic, naming: "magic")
        }
    }

    @Test func otherMajorVersionsAreRejected() throws {
        for major: UInt16 in [3, 0, 0xFFFF] {
            var file = try Self.valid()
            file.setU16(major, at: WrenFormat.Header.Field.major.rawValue)
            file.reseal()
            Self.expectError(file, .unsupportedVersion(major: Int(major), minor: 0, supportedMajor: 2), naming: "version \(major).0")
        }
    }

    // MARK: Element types (version 2, §6.1)

    static func wide() throws -> WrenFileEditor { WrenFileEditor(try SyntheticFile.wide().bytes) }

    /// Index of a tensor `convertedWide()` keeps as int16.
    static func wideTensorIndex() throws -> Int {
        try SyntheticFile.wide().quantized.tensors.firstIndex { $0.name == SyntheticFile.wideTensors[0] }!
    }

    @Test(arguments: [UInt32(2), 3, 0x100, UInt32.max])
    func unknownElementTypeIsRejected(type: UInt32) throws {
        var file = try Self.wide()
        file.setU32(type, at: file.tensorField(0, .elementType))
        file.reseal()
        Self.expectInvalidField(file, field: "tensor[0].element_type", offset: file.tensorField(0, .elementType), reason: "unknown element type \(type)")
    }

    @Test(arguments: [Int32(1), -1, 127, -128])
    func int16ZeroPointOtherThanZeroIsRejected(zeroPoint: Int32) throws {
        var file = try Self.wide()
        let index = try Self.wideTensorIndex()
        file.setI32(zeroPoint, at: file.tensorField(index, .zeroPoint))
        file.reseal()
        Self.expectInvalidField(file, field: "tensor[\(index)].zero_point", offset: file.tensorField(index, .zeroPoint), reason: "int16 tensor, which is symmetric")
    }

    /// An int8 tensor marked int16 in a version-2 file: its zero point (not 0 here) gives it away.
    @Test func int8TensorRelabelledInt16IsRejected() throws {
        var file = try Self.wide()
        let index = try SyntheticFile.wide().quantized.tensors.firstIndex { $0.elementType == .int8 && $0.zeroPoint != 0 }!
        file.setU32(ElementType.int16.rawValue, at: file.tensorField(index, .elementType))
        file.reseal()
        Self.expectInvalidField(file, field: "tensor[\(index)].zero_point", offset: file.tensorField(index, .zeroPoint), reason: "symmetric")
    }

    /// Version 1 keeps offset 20 reserved: a 1.x file's value there is ignored, as a 1.0 reader
    /// ignores it (which is why int16 tensors needed a major version).
    @Test func version1IgnoresTheElementTypeField() throws {
        var file = try Self.valid()
        for index in 0..<3 { file.setU32(1, at: file.tensorField(index, .elementType)) }
        file.reseal()
        let description = try file.bytes.withUnsafeBytes { raw throws(WrenError) in try ModelReader.read(raw) }
        #expect(description.tensors == (try Self.validDescription()).tensors)
        #expect(description.tensors.allSatisfy { $0.elementType == .int8 })
    }

    /// formats/wren-v1.md §8: a higher minor version is read as 1.0.
    @Test func higherMinorVersionIsAccepted() throws {
        var file = try Self.valid()
        file.setU16(7, at: WrenFormat.Header.Field.minor.rawValue)
        file.reseal()
        let description = try file.bytes.withUnsafeBytes { raw throws(WrenError) in try ModelReader.read(raw) }
        #expect(description.minorVersion == 7)
        #expect(description.layers == (try Self.validDescription()).layers)
    }

    @Test func flippedChecksumByteIsRejected() throws {
        var file = try Self.valid()
        let stored = file.u32(at: WrenFormat.Header.Field.checksum.rawValue)
        file.bytes[WrenFormat.Header.Field.checksum.rawValue + 2] ^= 0x01
        Self.expectError(file, .checksumMismatch(stored: stored ^ 0x0001_0000, computed: stored), naming: "checksum")
    }

    @Test func flippedDataByteIsCaughtByTheChecksum() throws {
        var file = try Self.valid()
        let stored = file.u32(at: WrenFormat.Header.Field.checksum.rawValue)
        file.bytes[file.bytes.count - 1] ^= 0x40
        let computed = file.bytes.withUnsafeBytes { CRC32.wrenChecksum($0) }
        #expect(computed != stored)
        Self.expectError(file, .checksumMismatch(stored: stored, computed: computed), naming: "checksum")
    }

    // MARK: Section table

    @Test func sectionBeyondTheFileIsRejected() throws {
        var file = try Self.valid()
        let data = file.section(Kind.data)
        let beyond = (file.bytes.count / 64 + 2) * 64
        file.setU64(UInt64(beyond), at: data.entryOffset + 8)
        file.reseal()
        Self.expectError(file, .truncated(field: "section DATA", offset: beyond, needed: data.length, available: 0), naming: "section DATA")
    }

    @Test func sectionLongerThanTheFileIsRejected() throws {
        var file = try Self.valid()
        let data = file.section(Kind.data)
        file.setU64(UInt64(data.length + 1), at: data.entryOffset + 16)
        file.reseal()
        Self.expectError(file, .truncated(field: "section DATA", offset: data.offset, needed: data.length + 1, available: data.length),
                         naming: "section DATA")
    }

    @Test func sectionLengthThatOverflowsIsRejected() throws {
        var file = try Self.valid()
        let data = file.section(Kind.data)
        file.setU64(UInt64.max, at: data.entryOffset + 16)
        file.reseal()
        Self.expectInvalidField(file, field: "section length", offset: data.entryOffset + 16, reason: "overflows")
        // Int.max fits an Int but not the file, and offset + length must not wrap.
        file.setU64(UInt64(Int.max), at: data.entryOffset + 16)
        file.reseal()
        Self.expectError(file, .truncated(field: "section DATA", offset: data.offset, needed: Int.max, available: data.length), naming: "section DATA")
    }

    @Test func misalignedSectionIsRejected() throws {
        var file = try Self.valid()
        let meta = file.section(Kind.metadata)
        file.setU64(UInt64(meta.offset + 8), at: meta.entryOffset + 8)
        file.reseal()
        Self.expectInvalidField(file, field: "section offset", offset: meta.entryOffset + 8, reason: "aligned")
    }

    @Test func sectionInsideTheSectionTableIsRejected() throws {
        var file = try Self.valid()
        let meta = file.section(Kind.metadata)
        file.setU64(UInt64(WrenFormat.Header.size), at: meta.entryOffset + 8)
        file.reseal()
        Self.expectInvalidField(file, field: "section offset", offset: meta.entryOffset + 8, reason: "overlaps the header or section table")
    }

    @Test func overlappingSectionsAreRejected() throws {
        var file = try Self.valid()
        let model = file.section(Kind.model), tensors = file.section(Kind.tensors)
        file.setU64(UInt64(model.offset), at: tensors.entryOffset + 8)
        file.reseal()
        Self.expectInvalidField(file, field: "section offset", offset: tensors.entryOffset + 8, reason: "section 'TENS' overlaps 'MODL'")
    }

    @Test func duplicateSectionIsRejected() throws {
        var file = try Self.valid()
        let tensors = file.section(Kind.tensors)
        file.setU32(Kind.model, at: tensors.entryOffset)
        file.reseal()
        Self.expectInvalidField(file, field: "section kind", offset: tensors.entryOffset, reason: "duplicate section 'MODL'")
    }

    @Test func missingSectionIsRejected() throws {
        var file = try Self.valid()
        #expect(file.sections.last?.kind == Kind.data)
        file.setU32(UInt32(file.sectionCount - 1), at: WrenFormat.Header.Field.sectionCount.rawValue)
        file.reseal()
        Self.expectInvalidField(file, field: "section table", offset: file.sectionTableOffset, reason: "required section 'DATA' is missing")
    }

    @Test func unknownRequiredSectionIsRejected() throws {
        var file = try Self.valid()
        let entryOffset = file.sectionTableOffset + file.sectionCount * WrenFormat.SectionEntry.size
        let appended = file.appendSection(kind: WrenFormat.fourCC("XTRA"), flags: WrenFormat.SectionEntry.requiredFlag, payload: [1, 2, 3, 4, 5])
        try #require(appended)
        Self.expectInvalidField(file, field: "section kind", offset: entryOffset, reason: "required section 'XTRA' is not known")
    }

    /// formats/wren-v1.md §8: sections a 1.0 reader does not know are skipped unless marked required.
    @Test func unknownOptionalSectionIsAccepted() throws {
        var file = try Self.valid()
        let appended = file.appendSection(kind: WrenFormat.fourCC("XTRA"), flags: 0, payload: Array("later minor version".utf8))
        try #require(appended)
        let description = try file.bytes.withUnsafeBytes { raw throws(WrenError) in try ModelReader.read(raw) }
        let original = try Self.validDescription()
        #expect(description.fileLength == file.bytes.count)
        #expect(description.fileLength > original.fileLength)
        #expect(description.input == original.input)
        #expect(description.tensors == original.tensors)
        #expect(description.layers == original.layers)
        #expect(description.metadata.map(\.value) == original.metadata.map(\.value))
        let fixture = try SyntheticFile.plain()
        let logits = try WrenContext(model: try WrenModel(bytes: file.bytes)).run(Array(fixture.inputs.prefix(fixture.perImage)), batch: 1)
        let expected = try WrenContext(model: try WrenModel(bytes: fixture.bytes)).run(Array(fixture.inputs.prefix(fixture.perImage)), batch: 1)
        #expect(logits == expected)
    }

    // MARK: Tensor table

    @Test func tensorCountOverflowIsRejected() throws {
        var file = try Self.valid()
        file.setU32(0xFFFF_FFFF, at: file.tensorCountOffset)
        file.reseal()
        Self.expectInvalidField(file, field: "tensor count", offset: file.tensorCountOffset, reason: "4294967295 exceeds 4096")
    }

    @Test func tensorCountBeyondTheSectionIsRejected() throws {
        var file = try Self.valid()
        let tensors = file.section(Kind.tensors)
        let count = Int(file.u32(at: tensors.offset))
        file.setU32(UInt32(count + 1), at: tensors.offset)
        file.reseal()
        let needed = WrenFormat.TableHeader.size + (count + 1) * WrenFormat.TensorRecord.size
        Self.expectError(file, .truncated(field: "tensor table", offset: tensors.offset, needed: needed, available: tensors.length),
                         naming: "tensor table")
    }

    @Test(arguments: [Float(0), -0.0, .nan, .infinity, -.infinity, -1, -Float.leastNonzeroMagnitude])
    func badTensorScaleIsRejected(scale: Float) throws {
        var file = try Self.valid()
        file.setF32(scale, at: file.tensorField(1, .scale))
        file.reseal()
        Self.expectInvalidField(file, field: "tensor[1].scale", offset: file.tensorField(1, .scale), reason: "is not a positive finite number")
    }

    @Test(arguments: [Int32(200), 128, -129, Int32.max, Int32.min])
    func zeroPointOutsideInt8IsRejected(zeroPoint: Int32) throws {
        var file = try Self.valid()
        file.setI32(zeroPoint, at: file.tensorField(1, .zeroPoint))
        file.reseal()
        Self.expectInvalidField(file, field: "tensor[1].zero_point", offset: file.tensorField(1, .zeroPoint), reason: "outside -128...127")
    }

    // MARK: Blobs

    @Test func blobBeyondDataIsRejected() throws {
        var file = try Self.valid()
        let data = file.section(Kind.data)
        file.setU64(UInt64((data.length / 64 + 1) * 64), at: file.blobSlot(layer: 0, 0))
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].blob[0]", offset: file.blobSlot(layer: 0, 0), reason: "lies outside the DATA section")
    }

    @Test func blobOfTheWrongLengthIsRejected() throws {
        var file = try Self.valid()
        let bias = file.blob(layer: 0, 1)
        file.setU64(UInt64(bias.length - 4), at: file.blobSlot(layer: 0, 1) + 8)
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].bias", offset: file.layerRecord(0),
                                reason: "blob holds \(bias.length - 4) bytes, \(bias.length) needed")
    }

    @Test func misalignedBlobIsRejected() throws {
        var file = try Self.valid()
        let slot = file.blobSlot(layer: 0, 1)
        file.setU64(file.u64(at: slot) + 4, at: slot)
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].blob[1].offset", offset: slot, reason: "is not 64-byte aligned")
    }

    /// Two convolutions with the same channel count made to share one multiplier blob.
    @Test func overlappingBlobsAreRejected() throws {
        var file = try Self.valid()
        let layers = try Self.validDescription().layers
        let convs = layers.indices.filter { layers[$0].op == .conv2d }
        let pair = convs.lazy.flatMap { i in convs.lazy.filter { $0 > i }.map { (i, $0) } }
            .first { layers[$0.0].outChannels == layers[$0.1].outChannels }
        let (first, second) = try #require(pair)
        file.setU64(file.u64(at: file.blobSlot(layer: first, 2)), at: file.blobSlot(layer: second, 2))
        file.reseal()
        let error = try #require(wrenReadError(file.bytes))
        guard case .invalidField(let field, let offset, let reason) = error else {
            Issue.record("expected overlapping blobs to be an invalid field, got \(error)")
            return
        }
        let names = ["layer[\(first)].multipliers", "layer[\(second)].multipliers"]
        #expect(names.contains(field))
        #expect(reason == "overlaps \(names.first { $0 != field }!)")
        #expect(offset == file.blob(layer: first, 2).offset)
        #expect(error.description.contains(field))
    }

    // MARK: Graph

    @Test func danglingTensorReferenceIsRejected() throws {
        var file = try Self.valid()
        let tensorCount = try Self.validDescription().tensors.count
        file.setU32(UInt32(tensorCount + 7), at: file.layerField(1, .input))
        file.reseal()
        Self.expectInvalidField(file, field: "layer[1].input", offset: file.layerRecord(1),
                                reason: "tensor \(tensorCount + 7) does not exist (\(tensorCount) tensors)")
    }

    @Test func tensorUsedBeforeItIsProducedIsRejected() throws {
        var file = try Self.valid()
        let layers = try Self.validDescription().layers
        let late = try #require(layers.last).input
        file.setU32(UInt32(late), at: file.layerField(0, .input))
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].input", offset: file.layerRecord(0),
                                reason: "tensor \(late) is used before any layer produces it")
    }

    @Test func tensorProducedTwiceIsRejected() throws {
        var file = try Self.valid()
        let description = try Self.validDescription()
        let layers = description.layers, tensors = description.tensors
        func shape(_ t: Int) -> [Int] { [tensors[t].channels, tensors[t].height, tensors[t].width] }
        // A convolution whose output could as well be an earlier layer's output of the same shape.
        var target: (layer: Int, tensor: Int)?
        search: for j in layers.indices where layers[j].op == .conv2d && layers[j].residual == nil {
            for i in 0..<j {
                if let earlier = layers[i].output, earlier != layers[j].input, shape(earlier) == shape(layers[j].output!) {
                    target = (j, earlier)
                    break search
                }
            }
        }
        let (layer, tensor) = try #require(target)
        file.setU32(UInt32(tensor), at: file.layerField(layer, .output))
        file.reseal()
        Self.expectInvalidField(file, field: "layer[\(layer)].output", offset: file.layerRecord(layer), reason: "tensor \(tensor) is produced twice")
    }

    @Test func convOutChannelsDifferentFromItsTensorIsRejected() throws {
        var file = try Self.valid()
        let layers = try Self.validDescription().layers
        let channels = layers[0].outChannels
        file.setU32(UInt32(channels + 1), at: file.layerField(0, .outChannels))
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].out_channels", offset: file.layerRecord(0),
                                reason: "\(channels + 1) differs from output tensor \(layers[0].output!)'s \(channels) channels")
    }

    @Test func convWeightsForOtherInputChannelsAreRejected() throws {
        var file = try Self.valid()
        let description = try Self.validDescription()
        // Point a 3x3 convolution at a tensor of the same size but a different channel count: its
        // weight blob no longer matches the input.
        let layers = description.layers, tensors = description.tensors
        let j = try #require(layers.indices.first { j in
            layers[j].op == .conv2d && j > 0 && tensors[layers[j].input].channels != tensors[0].channels
                && tensors[layers[j].input].height == tensors[0].height && tensors[layers[j].input].width == tensors[0].width
        })
        file.setU32(UInt32(description.input.tensor), at: file.layerField(j, .input))
        file.reseal()
        let depth = layers[j].kernelSize * layers[j].kernelSize * tensors[0].channels
        let needed = PackedConvWeights.byteCount(outChannels: layers[j].outChannels, depth: depth)
        Self.expectInvalidField(file, field: "layer[\(j)].weights", offset: file.layerRecord(j),
                                reason: "blob holds \(layers[j].weights.length) bytes, \(needed) needed")
    }

    @Test func residualOfAnotherShapeIsRejected() throws {
        var file = try Self.valid()
        let description = try Self.validDescription()
        let j = try #require(description.layers.firstIndex { $0.residual != nil })
        file.setU32(UInt32(description.input.tensor), at: file.layerField(j, .residual))
        file.reseal()
        let input = description.tensors[description.input.tensor]
        Self.expectInvalidField(file, field: "layer[\(j)].residual", offset: file.layerRecord(j),
                                reason: "shape \(input.channels)x\(input.height)x\(input.width) differs from the output's")
    }

    @Test func unnormalizedMultiplierIsRejected() throws {
        var file = try Self.valid()
        let multipliers = file.blob(layer: 0, 2)
        file.setI32(12345, at: multipliers.offset)
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].multipliers[0]", offset: file.layerRecord(0),
                                reason: "12345 >> \(file.i32(at: file.blob(layer: 0, 3).offset)) is not a normalized Q31 multiplier")
    }

    @Test func shiftOutOfRangeIsRejected() throws {
        var file = try Self.valid()
        let shifts = file.blob(layer: 0, 3)
        file.setI32(40, at: shifts.offset)
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].shifts[0]", offset: file.layerRecord(0),
                                reason: "40 is outside -31...31")
    }

    @Test func unnormalizedResidualMultiplierIsRejected() throws {
        var file = try Self.valid()
        let j = try #require(try Self.validDescription().layers.firstIndex { $0.residual != nil })
        file.setI32(5, at: file.layerField(j, .residualMultiplier))
        file.reseal()
        Self.expectInvalidField(file, field: "layer[\(j)].residual_multiplier", offset: file.layerRecord(j), reason: "is not a normalized Q31 multiplier")
    }

    @Test func residualMultiplierWithoutResidualIsRejected() throws {
        var file = try Self.valid()
        file.setI32(1 << 30, at: file.layerField(0, .residualMultiplier))
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].residual_multiplier", offset: file.layerRecord(0), reason: "must be zero without a residual")
    }

    @Test(arguments: [UInt32(9), 0, 4, 0xFFFF_FFFF])
    func unknownOpIsRejected(op: UInt32) throws {
        var file = try Self.valid()
        file.setU32(op, at: file.layerField(0, .op))
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].op", offset: file.layerRecord(0), reason: "unknown operation \(op)")
    }

    @Test func unknownLayerFlagIsRejected() throws {
        var file = try Self.valid()
        file.setU32(file.u32(at: file.layerField(0, .flags)) | 2, at: file.layerField(0, .flags))
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].flags", offset: file.layerField(0, .flags), reason: "unknown flags")
    }

    @Test func lastLayerThatIsNotTheClassifierIsRejected() throws {
        var file = try Self.valid()
        file.setU32(UInt32(file.layerCount - 1), at: file.layerCountOffset)
        file.reseal()
        Self.expectInvalidField(file, field: "layer table", offset: file.layerCountOffset,
                                reason: "the last layer must be the average_pool_linear classifier")
    }

    @Test func weightOfMinus128IsRejected() throws {
        var file = try Self.valid()
        let weights = file.blob(layer: 0, 0)
        file.bytes[weights.offset + PackedConvWeights.index(channel: 0, depth: 5, paddedDepth: 28)] = 0x80
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].weights", offset: file.layerRecord(0),
                                reason: "output channel 0 holds -128; symmetric int8 weights lie in -127...127")
    }

    /// The stem convolution has depth 3·3·3 = 27, packed to 28: the 28th byte of each channel is padding.
    @Test func nonZeroPackingPaddingIsRejected() throws {
        var file = try Self.valid()
        let weights = file.blob(layer: 0, 0)
        file.bytes[weights.offset + PackedConvWeights.index(channel: 0, depth: 27, paddedDepth: 28)] = 1
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].weights", offset: file.layerRecord(0),
                                reason: "padding byte for channel 0, depth 27 is 1, must be 0")
    }

    @Test func accumulatorBoundExceededIsRejected() throws {
        var file = try Self.valid()
        let bias = file.blob(layer: 0, 1)
        file.setI32(Int32.max - 10, at: bias.offset)
        file.reseal()
        Self.expectInvalidField(file, field: "layer[0].bias[0]", offset: file.layerRecord(0), reason: "output channel 0 can accumulate")
        #expect(wrenReadError(file.bytes)?.description.contains("beyond int32") == true)
    }
}

/// The files the corruption catalogue starts from: `ModelFormatTests.model()` written by
/// `ModelWriter`, as version 1.0 and (with `wideTensors` int16) 2.0, with inputs to run them on.
enum SyntheticFile {
    struct File {
        var bytes: [UInt8]
        var quantized: QuantizedModel
        var inputs: [Float]
        var imageCount: Int
        var perImage: Int { inputs.count / imageCount }
    }

    static let wideTensors = ["block1.layer.0.relu1"]

    static func file(wide: Bool) -> File {
        let model = ModelFormatTests.model(wide: wide)
        let perImage = 3 * model.input.height * model.input.width
        return File(bytes: ModelWriter.write(model), quantized: model,
                    inputs: (0..<(4 * perImage)).map { Float(($0 * 37) % 101) / 50 - 1 }, imageCount: 4)
    }

    static func plain() throws -> File { file(wide: false) }
    static func wide() throws -> File { file(wide: true) }
}
