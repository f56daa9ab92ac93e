import Testing
import WrenTestSupport
import WrenCore

/// Every convolution kernel in the table against the naive definition, bit for bit, on shapes
/// that hit every tile edge: output channels below/at/above 16 and 32, depths that are not a
/// multiple of 4, pixel counts that leave partial row groups, tiles that start mid-image.
@Suite struct KernelTableTests {
    /// The tables under test; ISA modules' kernels are tested in their own suites the same way.
    static let tables: [KernelTable] = [.reference, .portable]

    /// Runs `table` over a whole case, cutting each image into tiles of `tilePixels`.
    static func run(_ table: KernelTable, _ c: KernelTests.ConvCase, tilePixels: Int) -> [Int8] {
        let p = c.parameters
        let paddedDepth = PackedConvWeights.paddedDepth(c.depth)
        let packed = PackedConvWeights.pack(c.weights, outChannels: c.outChannels, depth: c.depth)
        let weightSums: [Int32] = (0..<c.outChannels).map { o in
            c.weights[(o * c.depth)..<((o + 1) * c.depth)].reduce(Int32(0)) { $0 &+ Int32($1) }
        }
        let unsignedBias = (0..<c.outChannels).map { c.bias[$0] &- (c.inputZeroPoint &+ 128) &* weightSums[$0] }
        let signedBias = (0..<c.outChannels).map { c.bias[$0] &- c.inputZeroPoint &* weightSums[$0] }
        let perImageIn = c.inHeight * c.inWidth * c.inChannels
        let pixels = c.outHeight * c.outWidth
        let perImageOut = pixels * c.outChannels
        var output = [Int8](repeating: 0, count: c.batch * perImageOut)
        let scratchBytes = max(table.scratchBytes(paddedDepth), 4 * c.depth)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
        defer { scratch.deallocate() }
        let residual = c.residualMultiplier == nil ? nil : c.residual
        c.input.withUnsafeBufferPointer { input in
            packed.withUnsafeBufferPointer { weights in
                unsignedBias.withUnsafeBufferPointer { bias in signedBias.withUnsafeBufferPointer { signed in
                    c.multipliers.withUnsafeBufferPointer { multipliers in
                        c.shifts.withUnsafeBufferPointer { shifts in
                            c.residual.withUnsafeBufferPointer { residualBuffer in
                                output.withUnsafeMutableBufferPointer { out in
                                    for n in 0..<c.batch {
                                        var first = 0
                                        while first < pixels {
                                            table.conv2d(S8Conv2DTile(
                                                parameters: p, paddedDepth: paddedDepth, input: input.baseAddress! + n * perImageIn,
                                                weights: weights.baseAddress!, unsignedInputBias: bias.baseAddress!,
                                                signedInputBias: signed.baseAddress!,
                                                multipliers: multipliers.baseAddress!, shifts: shifts.baseAddress!,
                                                residual: residual == nil ? nil : UnsafePointer(residualBuffer.baseAddress! + n * perImageOut),
                                                output: out.baseAddress! + n * perImageOut, firstPixel: first,
                                                pixelCount: min(tilePixels, pixels - first), scratch: scratch))
                                            first += tilePixels
                                        }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
        return output
    }

    @Test(arguments: tables.map(\.name))
    func kernelMatchesTheNaiveDefinition(_ name: String) {
        let table = Self.tables.first { $0.name == name }!
        var rng = SplitMix64(seed: 0x7AB1E)
        for trial in 0..<120 {
            var c = KernelTests.ConvCase.random(&rng)
            // Widen the channel range to cross the 16- and 32-channel blocks.
            if trial % 3 == 0 {
                c = KernelTests.ConvCase.random(&rng, outChannels: [15, 16, 17, 31, 32, 33, 48][trial / 3 % 7])
            }
            let tile = [1, 3, 4, 5, 8, 64][trial % 6]
            let got = Self.run(table, c, tilePixels: tile)
            let expected = KernelTests.naiveConv(c)
            #expect(got == expected, "\(name), tile \(tile) pixels: \(c)")
            if got != expected { return }
        }
    }
}
