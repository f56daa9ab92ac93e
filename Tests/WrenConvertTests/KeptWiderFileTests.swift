import Testing
import WrenConvert
import WrenCore
import WrenTestSupport

/// The converter's kept-wider (`.wren` 2.0) output as readers see it. The reader's own checks of
/// 2.0 files are in WrenCoreTests' CorruptFileTests, on synthetic files.
@Suite struct KeptWiderFileTests {
    static func wide() throws -> WrenFileEditor { WrenFileEditor(try WrenFileFixture.convertedWide().bytes) }

    static func validDescription() throws -> ModelDescription {
        try WrenFileFixture.converted().bytes.withUnsafeBytes { raw throws(WrenError) in try ModelReader.read(raw) }
    }

    @Test func keptWiderFileIsVersionTwoWithInt16Tensors() throws {
        let description = try Self.wide().bytes.withUnsafeBytes { raw throws(WrenError) in try ModelReader.read(raw) }
        #expect(description.majorVersion == 2 && description.minorVersion == 0)
        let wide = description.tensors.filter { $0.elementType == .int16 }
        #expect(wide.map(\.name) == WrenFileFixture.wideTensors)
        #expect(wide.allSatisfy { $0.zeroPoint == 0 })
        #expect(try Self.validDescription().majorVersion == 1)
    }

    /// A 2.0 file relabelled 1.0 is read as int8 throughout, and no longer computes the same logits:
    /// exactly what a 1.0 reader would do with a minor-version step, so the format took a major one.
    @Test func keptWiderFileRelabelledVersion1ReadsAsInt8() throws {
        var file = try Self.wide()
        file.setU16(1, at: WrenFormat.Header.Field.major.rawValue)
        file.reseal()
        if let description = try? file.bytes.withUnsafeBytes({ raw throws(WrenError) in try ModelReader.read(raw) }) {
            #expect(description.tensors.allSatisfy { $0.elementType == .int8 })
            let fixture = try WrenFileFixture.convertedWide()
            let batch = min(4, fixture.imageCount)
            let input = Array(fixture.inputs[..<(batch * 3 * 32 * 32)])
            let original = try WrenContext(model: try WrenModel(bytes: fixture.bytes), maxBatch: batch).run(input, batch: batch)
            let relabelled = try WrenContext(model: try WrenModel(bytes: file.bytes), maxBatch: batch).run(input, batch: batch)
            #expect(original != relabelled)
        }
        // (Or the int8 validator refuses it, e.g. an int16-sized bias beyond the int32 bound: refused either way.)
    }
}
