import WrenCore

/// Serializes a `QuantizedModel` as `.wren` v1, or v2 when it has int16 tensors (`formats/wren-v1.md`): header, section table, then
/// META, MODL, TENS, LAYR and DATA sections, each 64-byte aligned, blobs 64-byte aligned inside
/// DATA, and the CRC-32 last. The writer checks its own offsets as it goes.
public enum ModelWriter {
    public static func write(_ model: QuantizedModel) -> [UInt8] {
        let sections: [(kind: UInt32, bytes: [UInt8])] = [
            (WrenFormat.SectionKind.metadata, metadataSection(model)),
            (WrenFormat.SectionKind.model, modelSection(model)),
            (WrenFormat.SectionKind.tensors, tensorSection(model)),
            (WrenFormat.SectionKind.layers, [])  // filled below, once DATA offsets are known
        ]
        let (data, blobOffsets) = dataSection(model)
        let layerBytes = layerSection(model, blobOffsets: blobOffsets)
        var ordered = sections
        ordered[3].bytes = layerBytes
        ordered.append((WrenFormat.SectionKind.data, data))

        let tableOffset = WrenFormat.Header.size
        var cursor = align(tableOffset + ordered.count * WrenFormat.SectionEntry.size)
        var placements: [Int] = []
        for section in ordered {
            placements.append(cursor)
            cursor = align(cursor + section.bytes.count)
        }
        let fileLength = placements.last! + ordered.last!.bytes.count
        var file = [UInt8](repeating: 0, count: fileLength)

        func put(_ bytes: [UInt8], at offset: Int) {
            precondition(offset + bytes.count <= file.count, "writer overran its own layout")
            file.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        }
        typealias H = WrenFormat.Header
        put(WrenFormat.magic, at: H.magicOffset)
        // Version 2 only when some tensor is int16: every other file stays 1.0, byte for byte (§8).
        let major = WrenFormat.majorVersion(writing: model.tensors.map(\.elementType))
        put(.littleEndian([major, WrenFormat.minorVersion]), at: H.majorOffset)
        put(.littleEndian([UInt32(H.size)]), at: H.headerSizeOffset)
        put(.littleEndian([UInt64(fileLength)]), at: H.fileLengthOffset)
        put(.littleEndian([UInt32(ordered.count), UInt32(tableOffset)]), at: H.sectionCountOffset)
        for (index, section) in ordered.enumerated() {
            var entry: [UInt8] = []
            entry.appendLittleEndian(section.kind)
            entry.appendLittleEndian(WrenFormat.SectionEntry.requiredFlag)
            entry.appendLittleEndian(UInt64(placements[index]))
            entry.appendLittleEndian(UInt64(section.bytes.count))
            entry.appendLittleEndian(UInt64(0))
            precondition(placements[index] % WrenFormat.alignment == 0)
            put(entry, at: tableOffset + index * WrenFormat.SectionEntry.size)
            put(section.bytes, at: placements[index])
        }
        let checksum = file.withUnsafeBytes { CRC32.wrenChecksum($0) }
        put(.littleEndian([checksum]), at: H.checksumOffset)
        return file
    }

    private static func align(_ n: Int) -> Int {
        (n + WrenFormat.alignment - 1) / WrenFormat.alignment * WrenFormat.alignment
    }

    private static func string(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(UInt32(text.utf8.count))
        bytes.append(contentsOf: text.utf8)
        return bytes
    }

    static func metadataSection(_ model: QuantizedModel) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(UInt32(model.metadata.count))
        for entry in model.metadata {
            bytes += string(entry.key)
            bytes += string(entry.value)
        }
        return bytes
    }

    static func modelSection(_ model: QuantizedModel) -> [UInt8] {
        var bytes: [UInt8] = []
        let input = model.input
        for value in [input.channels, input.height, input.width, model.numClasses] { bytes.appendLittleEndian(UInt32(value)) }
        bytes += .littleEndian(input.mean)
        bytes += .littleEndian(input.std)
        bytes.appendLittleEndian(UInt32(input.tensor))
        bytes.appendLittleEndian(model.roundingRule)
        bytes += [UInt8](repeating: 0, count: WrenFormat.ModelRecord.size - bytes.count)
        return bytes
    }

    static func tensorSection(_ model: QuantizedModel) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(UInt32(model.tensors.count))
        bytes.appendLittleEndian(UInt32(0))
        for tensor in model.tensors {
            let start = bytes.count
            for value in [tensor.channels, tensor.height, tensor.width] { bytes.appendLittleEndian(UInt32(value)) }
            bytes.appendLittleEndian(tensor.scale.bitPattern)
            bytes.appendLittleEndian(tensor.zeroPoint)
            bytes.appendLittleEndian(tensor.elementType.rawValue)  // reserved (0) in 1.0; int8 is 0
            let name = Array(tensor.name.utf8.prefix(WrenFormat.TensorRecord.nameCapacity))
            bytes += name + [UInt8](repeating: 0, count: WrenFormat.TensorRecord.nameCapacity - name.count)
            precondition(bytes.count - start == WrenFormat.TensorRecord.size)
        }
        return bytes
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

    static func layerSection(_ model: QuantizedModel, blobOffsets: [[Int]]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendLittleEndian(UInt32(model.layers.count))
        bytes.appendLittleEndian(UInt32(0))
        for (index, layer) in model.layers.enumerated() {
            let start = bytes.count
            bytes.appendLittleEndian(layer.op.rawValue)
            bytes.appendLittleEndian(UInt32(layer.input))
            bytes.appendLittleEndian(layer.output.map(UInt32.init) ?? WrenFormat.noTensor)
            bytes.appendLittleEndian(layer.residual.map(UInt32.init) ?? WrenFormat.noTensor)
            for value in [layer.kernelSize, layer.stride, layer.padding] { bytes.appendLittleEndian(UInt32(value)) }
            bytes.appendLittleEndian(UInt32(layer.relu ? 1 : 0))
            bytes.appendLittleEndian(layer.residualMultiplier.multiplier)
            bytes.appendLittleEndian(layer.residualMultiplier.rightShift)
            bytes.appendLittleEndian(UInt32(layer.outChannels))
            bytes.appendLittleEndian(UInt32(0))
            precondition(bytes.count - start == WrenFormat.LayerRecord.blobTableOffset)
            precondition(layer.blobs.count == WrenFormat.LayerRecord.blobSlots)
            for (slot, blob) in layer.blobs.enumerated() {
                bytes.appendLittleEndian(UInt64(blobOffsets[index][slot]))
                bytes.appendLittleEndian(UInt64(blob.count))
            }
            precondition(bytes.count - start == WrenFormat.LayerRecord.size)
        }
        return bytes
    }
}
