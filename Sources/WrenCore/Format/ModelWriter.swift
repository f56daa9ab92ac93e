/// Serializes a `QuantizedModel` as `.wren` 1.0, or 2.0 when it has int16 tensors
/// (`formats/wren-v1.md`): header, section table, then META, MODL, TENS, LAYR and DATA sections,
/// each 64-byte aligned, blobs 64-byte aligned inside DATA, and the CRC-32 last. Every fixed-size
/// record goes through its type in Records.swift, the same field list `ModelReader` decodes with.
/// The writer checks its own offsets as it goes (a miss is a bug here, so it traps).
public enum ModelWriter {
    public static func write(_ model: QuantizedModel) -> [UInt8] {
        let (data, blobOffsets) = dataSection(model)
        let sections: [(kind: UInt32, bytes: [UInt8])] = [
            (WrenFormat.SectionKind.metadata, metadataSection(model)),
            (WrenFormat.SectionKind.model, modelRecord(model).encoded()),
            (WrenFormat.SectionKind.tensors, table(model.tensors.map(tensorRecord))),
            (WrenFormat.SectionKind.layers, table(model.layers.indices.map { layerRecord(model.layers[$0], blobOffsets: blobOffsets[$0]) })),
            (WrenFormat.SectionKind.data, data),
        ]

        let tableOffset = WrenFormat.Header.size
        var cursor = align(tableOffset + sections.count * WrenFormat.SectionEntry.size)
        var placements: [Int] = []
        for section in sections {
            placements.append(cursor)
            cursor = align(cursor + section.bytes.count)
        }
        let fileLength = placements[placements.count - 1] + sections[sections.count - 1].bytes.count
        var file = ByteWriter(count: fileLength)

        for (index, section) in sections.enumerated() {
            precondition(placements[index] % WrenFormat.alignment == 0)
            let entry = WrenFormat.SectionEntry(
                kind: section.kind, flags: WrenFormat.SectionEntry.requiredFlag,
                offset: UInt64(placements[index]), length: UInt64(section.bytes.count))
            entry.encode(into: &file, at: tableOffset + index * WrenFormat.SectionEntry.size)
            file.store(section.bytes, at: placements[index])
        }
        var header = WrenFormat.Header()
        header.magic = WrenFormat.magic
        // Version 2 only when some tensor is int16: every other file stays 1.0, byte for byte (§8).
        header.major = WrenFormat.majorVersion(writing: model.tensors.map { $0.elementType })
        header.minor = WrenFormat.minorVersion
        header.headerSize = UInt32(WrenFormat.Header.size)
        header.fileLength = UInt64(fileLength)
        header.sectionCount = UInt32(sections.count)
        header.sectionTableOffset = UInt32(tableOffset)
        header.encode(into: &file, at: 0)
        header.checksum = file.bytes.withUnsafeBytes { CRC32.wrenChecksum($0) }
        header.encode(into: &file, at: 0)
        return file.bytes
    }

    private static func align(_ n: Int) -> Int {
        (n + WrenFormat.alignment - 1) / WrenFormat.alignment * WrenFormat.alignment
    }

    /// META (§4): a count, then length-prefixed UTF-8 keys and values, packed.
    static func metadataSection(_ model: QuantizedModel) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(UInt32(model.metadata.count))
        for entry in model.metadata {
            for text in [entry.key, entry.value] {
                bytes.appendLittleEndian(UInt32(text.utf8.count))
                bytes.append(contentsOf: text.utf8)
            }
        }
        return bytes
    }

    static func modelRecord(_ model: QuantizedModel) -> WrenFormat.ModelRecord {
        var record = WrenFormat.ModelRecord()
        record.channels = UInt32(model.input.channels)
        record.height = UInt32(model.input.height)
        record.width = UInt32(model.input.width)
        record.classCount = UInt32(model.numClasses)
        precondition(model.input.mean.count == 3 && model.input.std.count == 3, "mean and std hold one value per input channel")
        record.mean = model.input.mean
        record.std = model.input.std
        record.inputTensor = UInt32(model.input.tensor)
        record.roundingRule = model.roundingRule
        return record
    }

    /// TENS and LAYR (§6): the table header, then the records.
    static func table<R: WrenRecord>(_ records: [R]) -> [UInt8] {
        var writer = ByteWriter(count: WrenFormat.TableHeader.size + records.count * R.size)
        WrenFormat.TableHeader(count: UInt32(records.count)).encode(into: &writer, at: 0)
        for (index, record) in records.enumerated() {
            record.encode(into: &writer, at: WrenFormat.TableHeader.size + index * R.size)
        }
        return writer.bytes
    }

    static func tensorRecord(_ tensor: TensorInfo) -> WrenFormat.TensorRecord {
        var record = WrenFormat.TensorRecord()
        record.channels = UInt32(tensor.channels)
        record.height = UInt32(tensor.height)
        record.width = UInt32(tensor.width)
        record.scale = tensor.scale
        record.zeroPoint = tensor.zeroPoint
        record.elementType = tensor.elementType.rawValue  // reserved (0) in 1.0; int8 is 0
        record.name = Array(tensor.name.utf8.prefix(WrenFormat.TensorRecord.nameCapacity))
        return record
    }

    /// DATA: every non-empty blob at a 64-byte-aligned offset; returns each blob's relative offset.
    static func dataSection(_ model: QuantizedModel) -> (bytes: [UInt8], offsets: [[Int]]) {
        var bytes: [UInt8] = []
        var offsets: [[Int]] = []
        for layer in model.layers {
            var layerOffsets: [Int] = []
            for blob in layer.blobs {
                guard !blob.isEmpty else {
                    layerOffsets.append(0)
                    continue
                }
                bytes += [UInt8](repeating: 0, count: align(bytes.count) - bytes.count)
                layerOffsets.append(bytes.count)
                bytes += blob
            }
            offsets.append(layerOffsets)
        }
        return (bytes, offsets)
    }

    static func layerRecord(_ layer: QuantizedLayer, blobOffsets: [Int]) -> WrenFormat.LayerRecord {
        precondition(layer.blobs.count == WrenFormat.LayerRecord.blobSlots)
        var record = WrenFormat.LayerRecord()
        record.op = layer.op.rawValue
        record.input = UInt32(layer.input)
        record.output = layer.output.map(UInt32.init) ?? WrenFormat.noTensor
        record.residual = layer.residual.map(UInt32.init) ?? WrenFormat.noTensor
        record.kernelSize = UInt32(layer.kernelSize)
        record.stride = UInt32(layer.stride)
        record.padding = UInt32(layer.padding)
        record.flags = layer.relu ? WrenFormat.LayerRecord.reluFlag : 0
        record.residualMultiplier = layer.residualMultiplier.multiplier
        record.residualShift = layer.residualMultiplier.rightShift
        record.outChannels = UInt32(layer.outChannels)
        for (slot, blob) in layer.blobs.enumerated() {
            record.blobs[slot] = .init(offset: UInt64(blobOffsets[slot]), length: UInt64(blob.count))
        }
        return record
    }
}
