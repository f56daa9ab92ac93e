import Testing
import WrenConvert
import WrenCore
import WrenTestSupport

/// A real converted checkpoint written and loaded, then run every way the runtime offers (copied,
/// borrowed in place, borrowed unaligned, batched) with identical logits. The writer → reader
/// round trip field by field is WrenCoreTests' ModelFormatTests.
@Suite struct FormatRoundTripTests {
    /// The converter's graph: stem, 3 groups of one block (affine, conv, [shortcut], conv), affine, classifier.
    @Test func convertedGraphHasTheWRNShape() throws {
        let quantized = try WrenFileFixture.converted().quantized
        #expect(quantized.layers.first?.op == .conv2d)
        #expect(quantized.layers.last?.op == .averagePoolLinear)
        #expect(quantized.layers.filter { $0.residual != nil }.count == 3)
        #expect(wrenReadError(try WrenFileFixture.converted().bytes) == nil)
    }

    @Test func writerIsDeterministic() throws {
        let fixture = try WrenFileFixture.converted()
        #expect(ModelWriter.write(fixture.quantized) == fixture.bytes)
    }

    /// Logits of every image, computed by `context` one `run` call at a time.
    static func logitsOneByOne(_ context: WrenContext, _ fixture: WrenFileFixture.Converted) throws -> [Float] {
        let perImage = fixture.inputs.count / fixture.imageCount
        var logits: [Float] = []
        for image in 0..<fixture.imageCount {
            logits += try context.run(Array(fixture.inputs[(image * perImage)..<((image + 1) * perImage)]), batch: 1)
        }
        return logits
    }

    @Test func copiedAndBorrowedModelsGiveIdenticalLogits() throws {
        let fixture = try WrenFileFixture.converted()
        let bytes = fixture.bytes
        let count = fixture.imageCount

        let copied = try WrenModel(bytes: bytes)
        #expect(!copied.isZeroCopy)
        let expected = try WrenContext(model: copied, maxBatch: count).run(fixture.inputs, batch: count)
        #expect(expected.count == count * copied.numClasses)
        #expect(expected.allSatisfy { $0.isFinite })

        // 64-byte-aligned caller memory is read in place.
        let aligned = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: WrenFormat.alignment)
        defer { aligned.deallocate() }
        bytes.withUnsafeBytes { aligned.copyMemory(from: $0) }
        let borrowed = try WrenModel(borrowing: UnsafeRawBufferPointer(aligned))
        #expect(borrowed.isZeroCopy)
        #expect(borrowed.bytes.baseAddress == UnsafeRawPointer(aligned.baseAddress))
        #expect(borrowed.description == copied.description)
        let borrowedLogits = try WrenContext(model: borrowed, maxBatch: count).run(fixture.inputs, batch: count)
        #expect(borrowedLogits.map(\.bitPattern) == expected.map(\.bitPattern))

        // Memory one byte off alignment is copied, and runs the same.
        let shifted = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count + 1, alignment: WrenFormat.alignment)
        defer { shifted.deallocate() }
        bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: shifted[1...]).copyMemory(from: $0) }
        let unaligned = try WrenModel(borrowing: UnsafeRawBufferPointer(rebasing: shifted[1...]))
        #expect(!unaligned.isZeroCopy)
        #expect(unaligned.description == copied.description)
        let unalignedLogits = try WrenContext(model: unaligned, maxBatch: count).run(fixture.inputs, batch: count)
        #expect(unalignedLogits.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test func runsAreDeterministicAndIndependentOfBatching() throws {
        let fixture = try WrenFileFixture.converted()
        let count = fixture.imageCount
        #expect(count >= 4)
        let model = try WrenModel(bytes: fixture.bytes)
        let context = try WrenContext(model: model, maxBatch: count)

        let batched = try context.run(fixture.inputs, batch: count)
        let again = try context.run(fixture.inputs, batch: count)
        #expect(again.map(\.bitPattern) == batched.map(\.bitPattern), "two runs of the same batch")

        let single = try Self.logitsOneByOne(context, fixture)
        #expect(single.map(\.bitPattern) == batched.map(\.bitPattern), "batch of \(count) vs \(count) runs of 1")

        let small = try Self.logitsOneByOne(try WrenContext(model: model, maxBatch: 1), fixture)
        #expect(small.map(\.bitPattern) == batched.map(\.bitPattern), "context planned for batch 1")

        // Keeping every activation changes the arena layout, not the results.
        let retaining = try WrenContext(model: model, maxBatch: count, retainActivations: true)
        #expect(retaining.arenaSize >= context.arenaSize)
        let retained = try retaining.run(fixture.inputs, batch: count)
        #expect(retained.map(\.bitPattern) == batched.map(\.bitPattern), "retainActivations")
    }
}
