import Testing
import WrenTestSupport
@testable import WrenCore

/// `multiplyByQuantizedMultiplier64` (formats/wren-v1.md §7.6), the requantization of an int16
/// input's int64 accumulator: against an independent 128-bit evaluation of the definition, against
/// the int32 MBQM wherever the two must agree, and on hand-computed cases beyond int32.
@Suite struct WideFixedPointTests {
    /// The definition with a full-width product (no hi/lo split): a = clamp(x·2^left, ±2^47),
    /// h = ⌊(a·m + 2^30) / 2^31⌋, then RDBPOT(h, right) with ties away from zero.
    static func reference(_ x: Int64, _ m: Int32, _ s: Int32) -> Int64 {
        let left = max(-Int(s), 0), right = max(Int(s), 0)
        let limit = Int64(1) << 47
        let a: Int64
        if x.magnitude >= UInt64(1) << UInt64(63 - left) { a = x < 0 ? -limit : limit }
        else { a = min(max(x << Int64(left), -limit), limit) }
        var product = a.multipliedFullWidth(by: Int64(m))  // (high: Int64, low: UInt64)
        let (low, carry) = product.low.addingReportingOverflow(1 << 30)
        product.low = low
        if carry { product.high += 1 }
        // ⌊/2^31⌋ of the 128-bit value: its bits 31...94 (|h| < 2^47 fits).
        let h = Int64(bitPattern: (UInt64(bitPattern: product.high) << 33) | (product.low >> 31))
        guard right > 0 else { return h }
        let half = Int64(1) << Int64(right - 1)
        let magnitude = Int64((h.magnitude + UInt64(half)) >> UInt64(right))
        return h < 0 ? -magnitude : magnitude
    }

    @Test func matchesTheFullWidthDefinition() {
        var rng = SplitMix64(seed: 0x6D62_716D_3634)
        var mismatches = 0
        for _ in 0..<400_000 {
            let (m, shift) = rng.quantizedMultiplier()
            // Magnitudes of every width up to 2^47, the validated accumulator bound.
            let x = Int64(truncatingIfNeeded: rng.next()) >> Int64(16 + rng.next() % 48)
            let got = multiplyByQuantizedMultiplier64(x, m, shift)
            let want = Self.reference(x, m, shift)
            if got != want {
                mismatches += 1
                if mismatches <= 5 { Issue.record("MBQM64(\(x), \(m), \(shift)) = \(got), reference \(want)") }
            }
        }
        #expect(mismatches == 0)
    }

    /// Where x·2^left fits in int32 (nothing saturates), MBQM64 is the int32 MBQM of §7.1.
    @Test func equalsTheInt32RuleWithinInt32() {
        var rng = SplitMix64(seed: 0x33_3264)
        for _ in 0..<400_000 {
            let (m, shift) = rng.quantizedMultiplier()
            let x = rng.int32AnyWidth()
            let left = max(-shift, 0)
            guard (Int64(x) << Int64(left)) >= Int64(Int32.min), (Int64(x) << Int64(left)) <= Int64(Int32.max) else { continue }
            let got = multiplyByQuantizedMultiplier64(Int64(x), m, shift)
            let want = Int64(multiplyByQuantizedMultiplier(x, m, shift))
            #expect(got == want, "x \(x), m \(m), s \(shift)")
            if got != want { return }
        }
    }

    @Test func handComputedCasesBeyondInt32() {
        // A 3x3 convolution over 640 int16 channels at full scale: 9·640·32767·127 > 2^31.
        let acc: Int64 = 9 * 640 * 32767 * 127
        #expect(acc == 23_969_715_840 && acc > Int64(Int32.max))
        // M = 0.5 (m = 2^30, s = 0): exactly acc / 2.
        #expect(multiplyByQuantizedMultiplier64(acc, 1 << 30, 0) == 11_984_857_920)
        #expect(multiplyByQuantizedMultiplier64(-acc, 1 << 30, 0) == -11_984_857_920)
        // M = 0.5 · 2^-20: 11_984_857_920 / 2^20 = 11429.65 → 11430 (and −11430: ties aside, symmetric).
        #expect(multiplyByQuantizedMultiplier64(acc, 1 << 30, 20) == 11430)
        #expect(multiplyByQuantizedMultiplier64(-acc, 1 << 30, 20) == -11430)
        // The int32 rule would have saturated the accumulator first: it gives 2^31 · 0.5 / 2^20 = 1024.
        #expect(multiplyByQuantizedMultiplier(Int32(clamping: acc), 1 << 30, 20) == 1024)
        // M = 0.75 · 2^-24 (m = 3·2^29): 23_969_715_840 · 0.75 / 2^24 = 1071.53 → 1072.
        #expect(multiplyByQuantizedMultiplier64(acc, 3 << 29, 24) == 1072)
        // Exact ties of the high multiply round up (as SRDHM): 1.5 → 2, −1.5 → −1, −0.5 → 0.
        #expect(multiplyByQuantizedMultiplier64(3, 1 << 30, 0) == 2)
        #expect(multiplyByQuantizedMultiplier64(-3, 1 << 30, 0) == -1)
        #expect(multiplyByQuantizedMultiplier64(-1, 1 << 30, 0) == 0)
        // RDBPOT ties go away from zero: 2^33 + 2^32 (1.5 · 2^33) · 0.5 / 2^32 = 1.5 → 2; negative → −2.
        #expect(multiplyByQuantizedMultiplier64(3 << 31, 1 << 30, 31) == 2)
        #expect(multiplyByQuantizedMultiplier64(-(3 << 31), 1 << 30, 31) == -2)
        // A left shift past 2^47 clamps: 2^40 · 2^31 → 2^47, times 0.5 → 2^46.
        #expect(multiplyByQuantizedMultiplier64(1 << 40, 1 << 30, -31) == 1 << 46)
        #expect(multiplyByQuantizedMultiplier64(-(1 << 40), 1 << 30, -31) == -(1 << 46))
        // The largest valid multiplier at the accumulator bound stays inside int64.
        #expect(multiplyByQuantizedMultiplier64((1 << 47) - 1, Int32.max, 0) == Self.reference((1 << 47) - 1, Int32.max, 0))
        #expect(multiplyByQuantizedMultiplier64(-(1 << 47), -Int32.max, 0) == Self.reference(-(1 << 47), -Int32.max, 0))
    }

    /// The int16 element type's bounds and storage.
    @Test func int16ElementsRoundTripAndClampSymmetrically() {
        #expect(ElementType.int16.minimum == -32767 && ElementType.int16.maximum == 32767)
        #expect(ElementType.int8.minimum == -128 && ElementType.int8.maximum == 127)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
        defer { memory.deallocate() }
        for value: Int32 in [-32767, -1, 0, 1, 300, 32767] {
            ElementType.int16.store(value, memory, 2)
            #expect(ElementType.int16.load(memory, 2) == value)
        }
        // Input quantization clamps to ±32767 (never −32768), huge values included.
        var output = [Int16](repeating: 0, count: 4)
        let input: [Float] = [1e30, -1e30, 0.5, -0.25]
        f32QuantizeS16(channels: 1, pixels: 4, input: input, scale: 0.001, output: &output)
        #expect(output == [32767, -32767, 500, -250])
    }
}
