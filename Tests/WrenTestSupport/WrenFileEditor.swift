import WrenCore

/// Reads `bytes` as a `.wren` file and returns the error, or nil if the file is accepted.
public func wrenReadError(_ bytes: [UInt8]) -> WrenError? {
    bytes.withUnsafeBytes { raw -> WrenError? in
        do throws(WrenError) {
            _ = try ModelReader.read(raw)
            return nil
        } catch {
            return error
        }
    }
}

/// A `.wren` file to corrupt on purpose: typed little-endian patches at offsets found by parsing the
/// header and section table here (with the record field offsets of `WrenFormat`, not the reader), and `reseal()` to make the
/// checksum valid again so the validator, not the CRC, has to catch the edit.
public struct WrenFileEditor {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    // MARK: Raw fields

    public func u32(at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << UInt32(8 * $1) }
    }

    public func u64(at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << UInt64(8 * $1) }
    }

    public func i32(at offset: Int) -> Int32 { Int32(bitPattern: u32(at: offset)) }

    public mutating func setU32(_ value: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt32(8 * i)) }
    }

    public mutating func setI32(_ value: Int32, at offset: Int) { setU32(UInt32(bitPattern: value), at: offset) }

    public mutating func setF32(_ value: Float, at offset: Int) { setU32(value.bitPattern, at: offset) }

    public mutating func setU64(_ value: UInt64, at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
    }

    public mutating func setU16(_ value: UInt16, at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: value)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }

    /// Stores the CRC-32 of the edited bytes, so the checksum no longer hides the edit.
    public mutating func reseal() {
        let checksum = bytes.withUnsafeBytes { CRC32.wrenChecksum($0) }
        setU32(checksum, at: WrenFormat.Header.Field.checksum.rawValue)
    }

    // MARK: Header and sections

    public var sectionCount: Int { Int(u32(at: WrenFormat.Header.Field.sectionCount.rawValue)) }
    public var sectionTableOffset: Int { Int(u32(at: WrenFormat.Header.Field.sectionTableOffset.rawValue)) }

    public struct SectionEntry {
        public var entryOffset: Int
        public var kind: UInt32
        public var flags: UInt32
        public var offset: Int
        public var length: Int
    }

    public var sections: [SectionEntry] {
        (0..<sectionCount).map { index in
            let at = sectionTableOffset + index * WrenFormat.SectionEntry.size
            typealias F = WrenFormat.SectionEntry.Field
            return SectionEntry(entryOffset: at, kind: u32(at: at + F.kind.rawValue), flags: u32(at: at + F.flags.rawValue),
                                offset: Int(u64(at: at + F.offset.rawValue)), length: Int(u64(at: at + F.length.rawValue)))
        }
    }

    public func section(_ kind: UInt32) -> SectionEntry {
        guard let entry = sections.first(where: { $0.kind == kind }) else {
            preconditionFailure("the test file has no section \(kind)")
        }
        return entry
    }

    /// Appends a section after the last byte (64-byte aligned) and its entry to the section table,
    /// which must have room before the first section. Returns false when it has none.
    public mutating func appendSection(kind: UInt32, flags: UInt32, payload: [UInt8]) -> Bool {
        let entryOffset = sectionTableOffset + sectionCount * WrenFormat.SectionEntry.size
        guard let firstSection = sections.map(\.offset).min(),
              entryOffset + WrenFormat.SectionEntry.size <= firstSection else { return false }
        let alignment = WrenFormat.alignment
        bytes += [UInt8](repeating: 0, count: (alignment - bytes.count % alignment) % alignment)
        let offset = bytes.count
        bytes += payload
        typealias F = WrenFormat.SectionEntry.Field
        setU32(kind, at: entryOffset + F.kind.rawValue)
        setU32(flags, at: entryOffset + F.flags.rawValue)
        setU64(UInt64(offset), at: entryOffset + F.offset.rawValue)
        setU64(UInt64(payload.count), at: entryOffset + F.length.rawValue)
        setU64(0, at: entryOffset + F.reserved.rawValue)
        setU32(UInt32(sectionCount + 1), at: WrenFormat.Header.Field.sectionCount.rawValue)
        setU64(UInt64(bytes.count), at: WrenFormat.Header.Field.fileLength.rawValue)
        reseal()
        return true
    }

    // MARK: Tables

    public var tensorCountOffset: Int { section(WrenFormat.SectionKind.tensors).offset }
    public var layerCountOffset: Int { section(WrenFormat.SectionKind.layers).offset }
    public var layerCount: Int { Int(u32(at: layerCountOffset)) }

    public func tensorRecord(_ index: Int) -> Int {
        tensorCountOffset + WrenFormat.TableHeader.size + index * WrenFormat.TensorRecord.size
    }

    public func tensorField(_ index: Int, _ field: WrenFormat.TensorRecord.Field) -> Int { tensorRecord(index) + field.rawValue }

    public func layerRecord(_ index: Int) -> Int {
        layerCountOffset + WrenFormat.TableHeader.size + index * WrenFormat.LayerRecord.size
    }

    public func layerField(_ index: Int, _ field: WrenFormat.LayerRecord.Field) -> Int { layerRecord(index) + field.rawValue }

    /// Offset of blob slot `slot`'s (u64 offset, u64 length) pair in layer `index`'s record.
    public func blobSlot(layer index: Int, _ slot: Int) -> Int {
        layerRecord(index) + WrenFormat.LayerRecord.blobOffset(slot)
    }

    /// Absolute file offset and length of a blob.
    public func blob(layer index: Int, _ slot: Int) -> (offset: Int, length: Int) {
        let at = blobSlot(layer: index, slot)
        return (section(WrenFormat.SectionKind.data).offset + Int(u64(at: at)), Int(u64(at: at + 8)))
    }
}
