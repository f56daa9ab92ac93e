import Testing
import WrenTestSupport
import WrenTrain

@Suite struct LayerDropoutTests {
    @Test func keepsAboutOneMinusPAndScalesTheKept() throws {
        let count = 20_001  // odd: the last value uses half of a 64-bit draw
        let layer = try DropoutLayer(probability: 0.3, maxCount: count, seed: 7)
        var random = SplitMix64(seed: 20)
        let input = random.floatExact(count)
        let values = TrainingBuffer(input.floats)
        layer.forwardTraining(values.values, count: count)
        let mask = Array(layer.mask)
        let keptScale = Float(1 / 0.7)
        #expect(mask.count == count && mask.allSatisfy { $0 == 0 || $0 == keptScale })
        // Binomial(20001, 0.7): σ ≈ 65; the seed is fixed, so this cannot flake.
        let kept = mask.filter { $0 != 0 }.count
        #expect(abs(kept - 14_001) < 260, "kept \(kept) of \(count) at p = 0.3")
        #expect(values.array == zip(input.floats, mask).map(*), "forward multiplies by the mask")
        expectClose(values.doubles, DropoutReference.forward(input: input, mask: mask.map(Double.init)), tolerance: 1e-7, "dropout forward (one Float rounding)")

        let dy = random.floatExact(count)
        let gradient = TrainingBuffer(dy.floats)
        layer.backward(gradient.values, count: count)
        #expect(gradient.array == zip(dy.floats, mask).map(*), "backward multiplies by the same mask")
    }

    @Test func masksFollowTheSeed() throws {
        let a = try DropoutLayer(probability: 0.5, maxCount: 100, seed: 1)
        let b = try DropoutLayer(probability: 0.5, maxCount: 100, seed: 1)
        let c = try DropoutLayer(probability: 0.5, maxCount: 100, seed: 2)
        let buffer = TrainingBuffer(count: 100)
        func draw(_ layer: DropoutLayer, count: Int = 100) -> [Float] {
            layer.forwardTraining(buffer.values, count: count)
            return Array(layer.mask)
        }
        let first = draw(a)
        #expect(draw(b) == first)
        #expect(draw(c) != first)
        let second = draw(a)
        #expect(second != first, "each forward draws a new mask")
        a.reseed(1)
        #expect(draw(a) == first, "reseeding restarts the sequence")
        #expect(draw(a, count: 37).count == 37, "a smaller batch masks only its values")
    }

    /// Value i is decided by draw ⌊i/2⌋ of SplitMix64 (low 32 bits for even i, high for odd), drawn
    /// on from call to call; so the mask is the sequential generator's, for any team size.
    @Test(arguments: [1, 2, 3])
    func masksAreSplitMix64DrawsForAnyTeam(_ threads: Int) throws {
        let layer = try DropoutLayer(probability: 0.25, maxCount: 101, seed: 99, team: ThreadTeam(count: threads))
        let values = TrainingBuffer([Float](repeating: 1, count: 101))
        var generator = SplitMix64(seed: 99)
        let threshold = UInt32(0.25 * 4_294_967_296)
        for count in [101, 37] {
            values.assign([Float](repeating: 1, count: 101))
            layer.forwardTraining(values.values, count: count)
            var expected: [Float] = []
            while expected.count < count {
                let bits = generator.next()
                for half in [UInt32(truncatingIfNeeded: bits), UInt32(truncatingIfNeeded: bits >> 32)] where expected.count < count {
                    expected.append(half >= threshold ? Float(1 / 0.75) : 0)
                }
            }
            #expect(Array(layer.mask) == expected, "\(threads) threads, \(count) values")
            #expect(Array(values.array.prefix(count)) == expected)
        }
    }

    @Test func zeroProbabilityIsTheIdentity() throws {
        let layer = try DropoutLayer(probability: 0, maxCount: 10, seed: 3)
        let values = TrainingBuffer((0..<10).map(Float.init))
        layer.forwardTraining(values.values, count: 10)
        layer.backward(values.values, count: 10)
        #expect(layer.isIdentity && values.array == (0..<10).map(Float.init))
    }

    @Test func probabilitiesOutside0To1AreRejected() {
        #expect(throws: TrainingError.self) { try DropoutLayer(probability: 1, maxCount: 10, seed: 0) }
        #expect(throws: TrainingError.self) { try DropoutLayer(probability: -0.1, maxCount: 10, seed: 0) }
        #expect(throws: TrainingError.self) { try DropoutLayer(probability: .nan, maxCount: 10, seed: 0) }
    }
}
