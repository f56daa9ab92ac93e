import Testing
import WrenTestSupport
@testable import WrenCore

/// The `.wren` codec on its own: every record type through its one field list both ways, and
/// synthetic files built with `ModelWriter` read back by `ModelReader` field for field (the
/// corruption catalogue is CorruptFileTests; a converted checkpoint's round trip is in WrenConvertTests).
@Suite struct ModelFormatTests {
    /// A small valid graph with every op and every kind of field, shaped like a WRN block: a 3x3
    /// stem (depth 27, so its packed weights have padding), affine, 3x3 convolution, affine, 3x3
    /// convolution adding the stem's output as residual, affine, classifier. `wide` keeps the first
    /// affine's output int16 (a version-2 file). CorruptFileTests starts from these files.
    static func model(wide: Bool = false) -> QuantizedModel {
        let channels = 8, classes = 3, side = 4
        func tensor(_ name: String, scale: Float, zeroPoint: Int32) -> TensorInfo {
            TensorInfo(name: name, channels: channels, height: side, width: side, scale: scale, zeroPoint: zeroPoint)
        }
        var tensors = [
            TensorInfo(name: "input", channels: 3, height: side, width: side, scale: 0.05, zeroPoint: -3),
            tensor("conv1", scale: 0.1, zeroPoint: 5),
            tensor("block1.layer.0.relu1", scale: 0.07, zeroPoint: -128),
            tensor("block1.layer.0.conv1", scale: 0.15, zeroPoint: 2),
            tensor("block1.layer.0.relu2", scale: 0.05, zeroPoint: -128),
            tensor(String(repeating: "n", count: WrenFormat.TensorRecord.nameCapacity), scale: 0.2, zeroPoint: 0),
            tensor("relu", scale: 0.1, zeroPoint: -128),
        ]
        if wide {
            tensors[2].elementType = .int16
            tensors[2].zeroPoint = 0
        }
        func conv(depth: Int) -> [UInt8] {
            let weights = (0..<(channels * depth)).map { Int8(truncatingIfNeeded: ($0 * 7) % 11 - 5) }
            return PackedConvWeights.pack(weights, outChannels: channels, depth: depth).map { UInt8(bitPattern: $0) }
        }
        let multipliers: [UInt8] = .littleEndian((0..<channels).map { Int32(1 << 30) + Int32($0) })
        let shifts: [UInt8] = .littleEndian((0..<channels).map { Int32($0 % 3) })
        let none = QuantizedMultiplier(multiplier: 0, rightShift: 0)
        func conv3x3(_ name: String, _ input: Int, _ output: Int, depth: Int, residual: Int? = nil) -> QuantizedLayer {
            QuantizedLayer(
                name: name, op: .conv2d, input: input, output: output, residual: residual, kernelSize: 3, stride: 1, padding: 1,
                relu: false, residualMultiplier: residual == nil ? none : QuantizedMultiplier(multiplier: 1 << 30, rightShift: 1),
                outChannels: channels,
                blobs: [conv(depth: depth), .littleEndian((0..<channels).map { Int32($0) - 4 }), multipliers, shifts, []])
        }
        func affine(_ name: String, _ input: Int, _ output: Int) -> QuantizedLayer {
            QuantizedLayer(
                name: name, op: .channelAffineReLU, input: input, output: output, residual: nil, kernelSize: 1, stride: 1,
                padding: 0, relu: true, residualMultiplier: none, outChannels: channels,
                blobs: [[], .littleEndian((0..<channels).map { Int32($0 * 3) }), multipliers, shifts, []])
        }
        let layers = [
            conv3x3("conv1", 0, 1, depth: 27),
            affine("block1.layer.0.relu1", 1, 2),
            conv3x3("block1.layer.0.conv1", 2, 3, depth: 9 * channels),
            affine("block1.layer.0.relu2", 3, 4),
            conv3x3("block1.layer.0", 4, 5, depth: 9 * channels, residual: 1),
            affine("relu", 5, 6),
            QuantizedLayer(
                name: "fc", op: .averagePoolLinear, input: 6, output: nil, residual: nil, kernelSize: 1, stride: 1, padding: 0,
                relu: false, residualMultiplier: none, outChannels: classes,
                blobs: [.littleEndian((0..<(classes * channels)).map { Float($0) / 16 - 0.5 }), .littleEndian([Float(0.25), -1, 2]), [], [], []]),
        ]
        return QuantizedModel(
            input: InputInfo(channels: 3, height: side, width: side, mean: [0.5, 0.25, 0.125], std: [0.2, 0.3, 0.4], tensor: 0),
            numClasses: classes, metadata: [("producer", "ModelFormatTests"), ("labels", "a\nb\nc"), ("", "empty key")],
            tensors: tensors, layers: layers, roundingRule: WrenFormat.roundingRuleSingleRounding)
    }

    /// The blob a layer stores in `slot` as the reader describes it.
    static func readBlob(_ layer: LayerInfo, slot: Int) -> BlobRange {
        switch (layer.op, slot) {
        case (.conv2d, 0), (.averagePoolLinear, 0): return layer.weights
        case (.conv2d, 1), (.averagePoolLinear, 1): return layer.bias
        case (.channelAffineReLU, 1): return layer.offsets
        case (.conv2d, 2), (.channelAffineReLU, 2): return layer.multipliers
        case (.conv2d, 3), (.channelAffineReLU, 3): return layer.shifts
        default: return .empty
        }
    }

    @Test(arguments: [false, true])
    func readerReturnsEverythingTheWriterWrote(wide: Bool) throws {
        let quantized = Self.model(wide: wide)
        let bytes = ModelWriter.write(quantized)
        let description = try bytes.withUnsafeBytes { raw throws(WrenError) in try ModelReader.read(raw) }

        #expect(description.majorVersion == (wide ? 2 : 1))
        #expect(description.minorVersion == 0)
        #expect(description.fileLength == bytes.count)
        #expect(description.checksum == bytes.withUnsafeBytes { CRC32.wrenChecksum($0) })
        #expect(description.roundingRule == quantized.roundingRule)
        #expect(description.input == quantized.input)
        #expect(description.numClasses == quantized.numClasses)
        #expect(description.metadata.map(\.key) == quantized.metadata.map(\.key))
        #expect(description.metadata.map(\.value) == quantized.metadata.map(\.value))
        #expect(description.labels == ["a", "b", "c"])
        #expect(description.tensors == quantized.tensors)
        #expect(description.layers.count == quantized.layers.count)

        for (index, (read, written)) in zip(description.layers, quantized.layers).enumerated() {
            let label = "layer[\(index)] \(written.name)"
            #expect(read.op == written.op, "\(label)")
            #expect(read.input == written.input, "\(label)")
            #expect(read.output == written.output, "\(label)")
            #expect(read.residual == written.residual, "\(label)")
            #expect(read.kernelSize == written.kernelSize, "\(label)")
            #expect(read.stride == written.stride, "\(label)")
            #expect(read.padding == written.padding, "\(label)")
            #expect(read.relu == written.relu, "\(label)")
            #expect(read.residualMultiplier == written.residualMultiplier, "\(label)")
            #expect(read.outChannels == written.outChannels, "\(label)")
            for slot in 0..<WrenFormat.LayerRecord.blobSlots {
                let range = Self.readBlob(read, slot: slot)
                #expect(range.length == written.blobs[slot].count, "\(label) slot \(slot)")
                #expect(Array(bytes[range.offset..<(range.offset + range.length)]) == written.blobs[slot], "\(label) slot \(slot)")
                if range.length > 0 { #expect(range.offset % WrenFormat.alignment == 0, "\(label) slot \(slot)") }
            }
        }
        // The synthetic file plans and runs.
        let logits = try WrenContext(model: try WrenModel(bytes: bytes)).run([Float](repeating: 0.5, count: 3 * 4 * 4), batch: 1)
        #expect(logits.count == 3 && logits.allSatisfy(\.isFinite))
    }

    @Test func writerIsDeterministicAndSectionsAreAlignedAndInsideTheFile() throws {
        let bytes = ModelWriter.write(Self.model())
        #expect(ModelWriter.write(Self.model()) == bytes)
        let editor = WrenFileEditor(bytes)
        let kinds = editor.sections.map(\.kind)
        #expect(kinds == [WrenFormat.SectionKind.metadata, WrenFormat.SectionKind.model, WrenFormat.SectionKind.tensors,
                          WrenFormat.SectionKind.layers, WrenFormat.SectionKind.data])
        for section in editor.sections {
            #expect(section.offset % WrenFormat.alignment == 0)
            #expect(section.offset + section.length <= editor.bytes.count)
            #expect(section.flags == WrenFormat.SectionEntry.requiredFlag)
        }
        #expect(Array(bytes[0..<8]) == WrenFormat.magic)
        #expect(wrenReadError(bytes) == nil)
    }

    /// Decodes `record`'s encoding and returns it.
    static func roundTrip<R: WrenRecord & Equatable>(_ record: R) throws -> R {
        let bytes = record.encoded()
        #expect(bytes.count == R.size)
        return try bytes.withUnsafeBytes { raw throws(WrenError) in try R(ByteReader(bytes: raw), at: 0) }
    }

    /// Each record's one field list decodes what it encodes, and puts each field at the offset
    /// `formats/wren-v1.md` gives it.
    @Test func everyRecordDecodesWhatItEncodes() throws {
        var header = WrenFormat.Header()
        header.magic = WrenFormat.magic
        header.major = 2; header.minor = 3; header.headerSize = 64; header.fileLength = 1 << 40
        header.sectionCount = 5; header.sectionTableOffset = 64; header.checksum = 0xDEAD_BEEF; header.flags = 9
        #expect(try Self.roundTrip(header) == header)
        let headerBytes = WrenFileEditor(header.encoded())
        #expect(headerBytes.u32(at: 32) == 0xDEAD_BEEF && headerBytes.u64(at: 16) == 1 << 40 && headerBytes.u32(at: 28) == 64)

        let entry = WrenFormat.SectionEntry(kind: WrenFormat.SectionKind.data, flags: 1, offset: 4096, length: 1 << 33)
        #expect(try Self.roundTrip(entry) == entry)
        let entryBytes = WrenFileEditor(entry.encoded())
        #expect(entryBytes.u32(at: 0) == WrenFormat.SectionKind.data && entryBytes.u64(at: 8) == 4096 && entryBytes.u64(at: 24) == 0)

        var model = WrenFormat.ModelRecord()
        model.channels = 3; model.height = 32; model.width = 31; model.classCount = 10
        model.mean = [0.1, 0.2, 0.3]; model.std = [1, 2, 3]; model.inputTensor = 7; model.roundingRule = 2
        #expect(try Self.roundTrip(model) == model)
        let modelBytes = WrenFileEditor(model.encoded())
        #expect(modelBytes.u32(at: 12) == 10 && modelBytes.u32(at: 32) == Float(2).bitPattern && modelBytes.u32(at: 40) == 7)
        #expect(modelBytes.bytes[48...].allSatisfy { $0 == 0 }, "reserved bytes are zero")

        #expect(try Self.roundTrip(WrenFormat.TableHeader(count: 77)) == WrenFormat.TableHeader(count: 77))

        var tensor = WrenFormat.TensorRecord()
        tensor.channels = 640; tensor.height = 8; tensor.width = 9; tensor.scale = 0.125; tensor.zeroPoint = -128
        tensor.elementType = 1; tensor.name = Array("block3.layer.3.relu2".utf8)
        var decoded = try Self.roundTrip(tensor)
        #expect(decoded.name.count == WrenFormat.TensorRecord.nameCapacity, "the name field is read whole, NUL padding included")
        decoded.name = Array(decoded.name.prefix { $0 != 0 })
        #expect(decoded == tensor)
        let tensorBytes = WrenFileEditor(tensor.encoded())
        #expect(tensorBytes.i32(at: 16) == -128 && tensorBytes.u32(at: 20) == 1 && tensorBytes.bytes[24] == UInt8(ascii: "b"))

        var layer = WrenFormat.LayerRecord()
        layer.op = 1; layer.input = 2; layer.output = 3; layer.residual = WrenFormat.noTensor; layer.kernelSize = 3
        layer.stride = 2; layer.padding = 1; layer.flags = 1; layer.residualMultiplier = -(1 << 30); layer.residualShift = -4
        layer.outChannels = 160
        for slot in 0..<WrenFormat.LayerRecord.blobSlots { layer.blobs[slot] = .init(offset: UInt64(64 * slot), length: UInt64(slot + 1)) }
        #expect(try Self.roundTrip(layer) == layer)
        let layerBytes = WrenFileEditor(layer.encoded())
        #expect(layerBytes.i32(at: 32) == -(1 << 30) && layerBytes.i32(at: 36) == -4 && layerBytes.u32(at: 40) == 160)
        #expect(layerBytes.u64(at: 48 + 16 * 4) == 256 && layerBytes.u64(at: 48 + 16 * 4 + 8) == 5)
    }
}
