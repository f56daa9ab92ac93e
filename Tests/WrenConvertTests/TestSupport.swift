import Testing
import WrenConvert
import WrenCore

/// A real `.wren` file for the format tests: fixtures/models/wrn10_1_c10.pth converted with its own
/// `.input.npy` as calibration, the way `wren convert` does it. Converted once per test run.
/// (Paths come from `ImportFixtures`, the shared fixture locator in ImportTestSupport.swift.)
enum WrenFileFixture {
    struct Converted: Sendable {
        var bytes: [UInt8]
        var quantized: QuantizedModel
        /// The calibration images, normalized NCHW float32, also used as run inputs.
        var inputs: [Float]
        var imageCount: Int
    }

    static let name = "wrn10_1_c10"

    private static let cached: Result<Converted, any Error> = Result {
        let checkpoint = try CheckpointLoader.load(path: ImportFixtures.models.appendingPathComponent("\(name).pth").path)
        let calibration = try NumpyArray.read(path: ImportFixtures.models.appendingPathComponent("\(name).input.npy").path)
        let inputs = try calibration.floats()
        var options = ConversionOptions()
        options.calibrationSource = "\(name).input.npy"
        let result = try Converter.convert(checkpoint: checkpoint, calibration: inputs, count: calibration.shape[0], options: options)
        return Converted(bytes: result.bytes, quantized: result.quantized, inputs: inputs, imageCount: calibration.shape[0])
    }

    static func converted() throws -> Converted { try cached.get() }

    /// The tensors `convertedWide()` keeps as int16: an affine output two convolutions read and a
    /// residual block output.
    static let wideTensors = ["block2.layer.0.relu1", "block3.layer.0"]

    private static let cachedWide: Result<Converted, any Error> = Result {
        let plain = try converted()
        let checkpoint = try CheckpointLoader.load(path: ImportFixtures.models.appendingPathComponent("\(name).pth").path)
        var options = ConversionOptions()
        options.calibrationSource = "\(name).input.npy"
        options.keepWider = wideTensors
        let result = try Converter.convert(checkpoint: checkpoint, calibration: plain.inputs, count: plain.imageCount, options: options)
        return Converted(bytes: result.bytes, quantized: result.quantized, inputs: plain.inputs, imageCount: plain.imageCount)
    }

    /// The same model with `wideTensors` kept as int16: a .wren 2.0 file.
    static func convertedWide() throws -> Converted { try cachedWide.get() }
}

/// Reads `bytes` as a `.wren` file and returns the error, or nil if the file is accepted.
func wrenReadError(_ bytes: [UInt8]) -> WrenError? {
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
/// header and section table here (independently of the reader), and `reseal()` to make the
/// checksum valid again so the validator, not the CRC, has to catch the edit.
struct WrenFileEditor {
    var bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    // MARK: Raw fields

    func u32(at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << UInt32(8 * $1) }
    }

    func u64(at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << UInt64(8 * $1) }
    }

    func i32(at offset: Int) -> Int32 { Int32(bitPattern: u32(at: offset)) }

    mutating func setU32(_ value: UInt32, at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt32(8 * i)) }
    }

    mutating func setI32(_ value: Int32, at offset: Int) { setU32(UInt32(bitPattern: value), at: offset) }

    mutating func setF32(_ value: Float, at offset: Int) { setU32(value.bitPattern, at: offset) }

    mutating func setU64(_ value: UInt64, at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
    }

    mutating func setU16(_ value: UInt16, at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: value)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }

    /// Stores the CRC-32 of the edited bytes, so the checksum no longer hides the edit.
    mutating func reseal() {
        let checksum = bytes.withUnsafeBytes { CRC32.wrenChecksum($0) }
        setU32(checksum, at: WrenFormat.Header.checksumOffset)
    }

    // MARK: Header and sections

    var sectionCount: Int { Int(u32(at: WrenFormat.Header.sectionCountOffset)) }
    var sectionTableOffset: Int { Int(u32(at: WrenFormat.Header.sectionTableOffsetOffset)) }

    struct SectionEntry {
        var entryOffset: Int
        var kind: UInt32
        var flags: UInt32
        var offset: Int
        var length: Int
    }

    var sections: [SectionEntry] {
        (0..<sectionCount).map { index in
            let at = sectionTableOffset + index * WrenFormat.SectionEntry.size
            return SectionEntry(entryOffset: at, kind: u32(at: at), flags: u32(at: at + 4),
                                offset: Int(u64(at: at + 8)), length: Int(u64(at: at + 16)))
        }
    }

    func section(_ kind: UInt32) -> SectionEntry {
        guard let entry = sections.first(where: { $0.kind == kind }) else {
            preconditionFailure("the test file has no section \(kind)")
        }
        return entry
    }

    /// Appends a section after the last byte (64-byte aligned) and its entry to the section table,
    /// which must have room before the first section. Returns false when it has none.
    mutating func appendSection(kind: UInt32, flags: UInt32, payload: [UInt8]) -> Bool {
        let entryOffset = sectionTableOffset + sectionCount * WrenFormat.SectionEntry.size
        guard let firstSection = sections.map(\.offset).min(),
              entryOffset + WrenFormat.SectionEntry.size <= firstSection else { return false }
        let alignment = WrenFormat.alignment
        bytes += [UInt8](repeating: 0, count: (alignment - bytes.count % alignment) % alignment)
        let offset = bytes.count
        bytes += payload
        setU32(kind, at: entryOffset)
        setU32(flags, at: entryOffset + 4)
        setU64(UInt64(offset), at: entryOffset + 8)
        setU64(UInt64(payload.count), at: entryOffset + 16)
        setU64(0, at: entryOffset + 24)
        setU32(UInt32(sectionCount + 1), at: WrenFormat.Header.sectionCountOffset)
        setU64(UInt64(bytes.count), at: WrenFormat.Header.fileLengthOffset)
        reseal()
        return true
    }

    // MARK: Tables

    /// Field offsets inside records, from formats/wren-v1.md §6.
    enum TensorField: Int { case channels = 0, height = 4, width = 8, scale = 12, zeroPoint = 16, elementType = 20 }
    enum LayerField: Int {
        case op = 0, input = 4, output = 8, residual = 12, kernelSize = 16, stride = 20, padding = 24, flags = 28
        case residualMultiplier = 32, residualShift = 36, outChannels = 40
    }

    var tensorCountOffset: Int { section(WrenFormat.SectionKind.tensors).offset }
    var layerCountOffset: Int { section(WrenFormat.SectionKind.layers).offset }
    var layerCount: Int { Int(u32(at: layerCountOffset)) }

    func tensorRecord(_ index: Int) -> Int {
        tensorCountOffset + WrenFormat.tableHeaderSize + index * WrenFormat.TensorRecord.size
    }

    func tensorField(_ index: Int, _ field: TensorField) -> Int { tensorRecord(index) + field.rawValue }

    func layerRecord(_ index: Int) -> Int {
        layerCountOffset + WrenFormat.tableHeaderSize + index * WrenFormat.LayerRecord.size
    }

    func layerField(_ index: Int, _ field: LayerField) -> Int { layerRecord(index) + field.rawValue }

    /// Offset of blob slot `slot`'s (u64 offset, u64 length) pair in layer `index`'s record.
    func blobSlot(layer index: Int, _ slot: Int) -> Int {
        layerRecord(index) + WrenFormat.LayerRecord.blobTableOffset + 16 * slot
    }

    /// Absolute file offset and length of a blob.
    func blob(layer index: Int, _ slot: Int) -> (offset: Int, length: Int) {
        let at = blobSlot(layer: index, slot)
        return (section(WrenFormat.SectionKind.data).offset + Int(u64(at: at)), Int(u64(at: at + 8)))
    }
}
