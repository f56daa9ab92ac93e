import Testing
import WrenConvert
import WrenCore

/// Writer → reader round trip on a real converted checkpoint, then the loaded model run every way
/// the runtime offers (copied, borrowed in place, borrowed unaligned, batched) with identical logits.
@Suite struct FormatRoundTripTests {
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

    @Test func readerReturnsEverythingTheWriterWrote() throws {
        let fixture = try WrenFileFixture.converted()
        let quantized = fixture.quantized
        let bytes = fixture.bytes
        let description = try bytes.withUnsafeBytes { raw throws(WrenError) in try ModelReader.read(raw) }

        #expect(description.majorVersion == 1)
        #expect(description.minorVersion == 0)
        #expect(description.fileLength == bytes.count)
        #expect(description.checksum == ImportFixtures.crc32(Array(bytes[0..<32]) + [0, 0, 0, 0] + Array(bytes[36...])),
                "stored checksum is zlib's CRC-32 with the checksum field read as zero")
        #expect(description.input == quantized.input)
        #expect(description.numClasses == quantized.numClasses)
        #expect(description.metadata.map(\.key) == quantized.metadata.map(\.key))
        #expect(description.metadata.map(\.value) == quantized.metadata.map(\.value))
        #expect(description.metadataValue("source_name") == "\(WrenFileFixture.name).pth")
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
        // The converter's graph: stem, 3 groups of one block (affine, conv, [shortcut], conv), affine, classifier.
        #expect(quantized.layers.first?.op == .conv2d)
        #expect(quantized.layers.last?.op == .averagePoolLinear)
        #expect(quantized.layers.filter { $0.residual != nil }.count == 3)
    }

    @Test func writerIsDeterministic() throws {
        let fixture = try WrenFileFixture.converted()
        #expect(ModelWriter.write(fixture.quantized) == fixture.bytes)
    }

    @Test func sectionsAreAlignedAndInsideTheFile() throws {
        let editor = WrenFileEditor(try WrenFileFixture.converted().bytes)
        let kinds = editor.sections.map(\.kind)
        #expect(Set(kinds) == [WrenFormat.SectionKind.metadata, WrenFormat.SectionKind.model, WrenFormat.SectionKind.tensors,
                               WrenFormat.SectionKind.layers, WrenFormat.SectionKind.data])
        for section in editor.sections {
            #expect(section.offset % WrenFormat.alignment == 0)
            #expect(section.offset + section.length <= editor.bytes.count)
            #expect(section.flags == WrenFormat.SectionEntry.requiredFlag)
        }
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
