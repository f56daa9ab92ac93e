import Testing
import WrenCore

/// `S8Conv2DTile.counts`: what debug builds assert a tile's reach against (the asserts themselves
/// compile away with -O, which the test suite uses; `boundsViolation` is what they check).
@Suite struct TileBoundsTests {
    @Test func boundsViolationNamesThePointerAndTheCounts() {
        let p = Conv2DParameters(inChannels: 3, inHeight: 4, inWidth: 4, outChannels: 5, outHeight: 4, outWidth: 4,
                                 kernelSize: 3, stride: 1, padding: 1, inputZeroPoint: 0, outputZeroPoint: 0, relu: false)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 12, alignment: 64)
        defer { buffer.deallocate() }
        let i8 = buffer.assumingMemoryBound(to: Int8.self), i32 = buffer.assumingMemoryBound(to: Int32.self)
        var tile = S8Conv2DTile(
            parameters: p, paddedDepth: PackedConvWeights.paddedDepth(p.depth), input: i8, weights: i8, unsignedInputBias: i32,
            signedInputBias: i32, multipliers: i32, shifts: i32, residual: i8, output: i8, firstPixel: 8, pixelCount: 8, scratch: buffer)
        #expect(tile.boundsViolation() == nil, "unchecked counts")
        let exact = S8Conv2DTile.Counts(
            input: 48, weights: 16 * 28, unsignedInputBias: 16, signedInputBias: 16, multipliers: 5, shifts: 5, residual: 80,
            output: 80, scratch: 112, kernelRowBias: 0)
        tile.counts = exact
        #expect(tile.boundsViolation(scratchBytes: 112) == nil)
        #expect(tile.boundsViolation(scratchBytes: 113) == "scratch needs 113 elements, has 112")
        for (edit, expected) in [
            ({ (c: inout S8Conv2DTile.Counts) in c.input = 47 }, "input needs 48 elements, has 47"),
            ({ c in c.weights -= 1 }, "weights needs 448 elements, has 447"),
            ({ c in c.shifts = 4 }, "shifts needs 5 elements, has 4"),
            ({ c in c.output = 79 }, "output needs 80 elements, has 79"),
            ({ c in c.residual = 0 }, "residual needs 80 elements, has 0"),
        ] as [((inout S8Conv2DTile.Counts) -> Void, String)] {
            var counts = exact
            edit(&counts)
            tile.counts = counts
            #expect(tile.boundsViolation() == expected)
        }
        tile.counts = exact
        tile.pixelCount = 9
        #expect(tile.boundsViolation() == "pixels 8..<17 outside the 4x4 output")
    }
}
