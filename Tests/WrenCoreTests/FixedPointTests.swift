import Testing
import WrenTestSupport
import WrenCore

/// The requantization arithmetic against the independent 64-bit reference (`WideReference`):
/// exhaustive over exponents and shifts, on edge values and millions of random ones.
@Suite struct FixedPointTests {
    /// Edges of Int32, small values, powers of two and their neighbours, both signs.
    static let edgeValues: [Int32] = {
        var values: [Int32] = [0, 1, -1, 2, -2, 3, -3, Int32.max, Int32.max - 1, Int32.min, Int32.min + 1]
        for k in 0...30 {
            let p = Int32(1) << Int32(k)
            values += [p, p - 1, p + 1, -p, -p - 1, -p + 1]
        }
        return values
    }()

    // MARK: SaturatingRoundingDoublingHighMul

    @Test func srdhmMatchesReferenceOnEveryEdgePair() {
        var mismatches = 0
        for a in Self.edgeValues {
            for b in Self.edgeValues {
                let got = saturatingRoundingDoublingHighMul(a, b)
                let want = WideReference.saturatingRoundingDoublingHighMul(a, b)
                if got != want {
                    mismatches += 1
                    if mismatches <= 5 { Issue.record("SRDHM(\(a), \(b)) = \(got), reference \(want)") }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func srdhmMatchesReferenceOnMillionsOfRandomPairs() {
        var rng = SplitMix64(seed: 0x5352_4448_4D00)
        var mismatches = 0
        for i in 0..<3_000_000 {
            // Alternate full-width operands with operands of every bit width, so products of all sizes occur.
            let a = i % 2 == 0 ? rng.int32() : rng.int32AnyWidth()
            let b = i % 3 == 0 ? rng.int32() : rng.int32AnyWidth()
            let got = saturatingRoundingDoublingHighMul(a, b)
            let want = WideReference.saturatingRoundingDoublingHighMul(a, b)
            if got != want {
                mismatches += 1
                if mismatches <= 5 { Issue.record("SRDHM(\(a), \(b)) = \(got), reference \(want)") }
            }
        }
        #expect(mismatches == 0)
    }

    /// Exact ties a·b = o·2^30 (o odd): the nudge rounds them toward +∞, so -0.5 → 0 and -1.5 → -1,
    /// not away from zero. This is gemmlowp's behaviour and the one the format specifies.
    @Test func srdhmRoundsExactTiesTowardPositiveInfinity() {
        var rng = SplitMix64(seed: 0x7469_6573)
        #expect(saturatingRoundingDoublingHighMul(1 << 30, 1) == 1)
        #expect(saturatingRoundingDoublingHighMul(-(1 << 30), 1) == 0)
        #expect(saturatingRoundingDoublingHighMul(-(3 << 29), 2) == -1)
        #expect(saturatingRoundingDoublingHighMul(3 << 29, 2) == 2)
        for _ in 0..<20_000 {
            let k = Int.random(in: 0...30, using: &rng)
            // a = o · 2^(30−k) must fit in Int32, so |o| < 2^(k+1).
            let limit = Int64(1) << Int64(k + 1)
            var odd = Int64.random(in: -(limit - 1)...(limit - 1), using: &rng)
            if odd % 2 == 0 { odd += odd < 0 ? 1 : -1 }
            if odd == 0 { odd = 1 }
            let a = Int32(odd * (Int64(1) << Int64(30 - k)))
            let sign: Int64 = Bool.random(using: &rng) ? 1 : -1
            let b = Int32(sign << Int64(k))
            let o = odd * sign
            let want = Int32((o + 1) / 2)  // o odd: (o + 1) / 2 is exact, the tie rounded up
            let got = saturatingRoundingDoublingHighMul(a, b)
            if got != want || got != WideReference.saturatingRoundingDoublingHighMul(a, b) {
                Issue.record("tie SRDHM(\(a), \(b)) = \(got), expected \(want)")
                return
            }
        }
    }

    @Test func srdhmSaturatesOnlyForMinTimesMin() {
        #expect(saturatingRoundingDoublingHighMul(Int32.min, Int32.min) == Int32.max)
        #expect(saturatingRoundingDoublingHighMul(Int32.min, Int32.max) == Int32.min + 1)
        #expect(saturatingRoundingDoublingHighMul(Int32.max, Int32.max) == Int32.max - 1)
        #expect(saturatingRoundingDoublingHighMul(Int32.min, 1 << 30) == -(1 << 30))
    }

    // MARK: RoundingDivideByPOT

    @Test func rdbpotMatchesReferenceForEveryExponent() {
        var rng = SplitMix64(seed: 0x5244_4250)
        var values = Self.edgeValues
        for _ in 0..<4000 { values.append(rng.int32()) }
        for _ in 0..<4000 { values.append(rng.int32AnyWidth()) }
        var mismatches = 0
        for exponent in 0...31 {
            var cases = values
            if exponent > 0 {
                // Exact halves k·2^e ± 2^(e−1) and their neighbours: where rounding rules differ.
                for _ in 0..<200 {
                    let k = Int64(rng.int32AnyWidth()) >> Int64(exponent)
                    let tie = k * (Int64(1) << Int64(exponent)) + (Int64(1) << Int64(exponent - 1))
                    for candidate in [tie, tie - 1, tie + 1, -tie, -tie - 1, -tie + 1]
                    where candidate >= Int64(Int32.min) && candidate <= Int64(Int32.max) {
                        cases.append(Int32(candidate))
                    }
                }
            }
            for x in cases {
                let got = roundingDivideByPowerOfTwo(x, Int32(exponent))
                let want = WideReference.roundingDivideByPowerOfTwo(x, exponent)
                if got != want {
                    mismatches += 1
                    if mismatches <= 5 { Issue.record("RDBPOT(\(x), \(exponent)) = \(got), reference \(want)") }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func rdbpotRoundsTiesAwayFromZero() {
        #expect(roundingDivideByPowerOfTwo(1, 1) == 1)
        #expect(roundingDivideByPowerOfTwo(-1, 1) == -1)
        #expect(roundingDivideByPowerOfTwo(3, 1) == 2)
        #expect(roundingDivideByPowerOfTwo(-3, 1) == -2)
        #expect(roundingDivideByPowerOfTwo(5, 2) == 1)
        #expect(roundingDivideByPowerOfTwo(-5, 2) == -1)
        #expect(roundingDivideByPowerOfTwo(6, 2) == 2)
        #expect(roundingDivideByPowerOfTwo(-6, 2) == -2)
        #expect(roundingDivideByPowerOfTwo(Int32.min, 31) == -1)
        #expect(roundingDivideByPowerOfTwo(Int32.max, 31) == 1)
        #expect(roundingDivideByPowerOfTwo(1 << 30, 31) == 1)
        #expect(roundingDivideByPowerOfTwo(-(1 << 30), 31) == -1)
        #expect(roundingDivideByPowerOfTwo((1 << 30) - 1, 31) == 0)
    }

    // MARK: MultiplyByQuantizedMultiplier

    @Test func mbqmMatchesReferenceForEveryShift() {
        var rng = SplitMix64(seed: 0x4D42_514D)
        let multipliers: [Int32] = [0, 1 << 30, (1 << 30) + 1, Int32.max, -(1 << 30), -Int32.max, 1_518_500_250, -1_518_500_250]
        var mismatches = 0
        for shift in Int32(-31)...31 {
            var cases: [(Int32, Int32)] = []
            for x in Self.edgeValues { for m in multipliers { cases.append((x, m)) } }
            for _ in 0..<3000 {
                let x = Bool.random(using: &rng) ? rng.int32() : rng.int32AnyWidth()
                cases.append((x, rng.quantizedMultiplier().multiplier))
            }
            for (x, m) in cases {
                let got = multiplyByQuantizedMultiplier(x, m, shift)
                let want = WideReference.multiplyByQuantizedMultiplier(x, m, shift)
                if got != want {
                    mismatches += 1
                    if mismatches <= 5 { Issue.record("MBQM(\(x), \(m), \(shift)) = \(got), reference \(want)") }
                }
            }
        }
        #expect(mismatches == 0)
    }

    /// Double rounding is off by at most one unit from x·m·2^(−31−s) when nothing saturates.
    @Test func mbqmIsWithinOneUnitOfTheExactProduct() {
        var rng = SplitMix64(seed: 0x6578_6163_74)
        for _ in 0..<200_000 {
            let (m, shift) = rng.quantizedMultiplier(shifts: 0...31)
            let x = rng.int32AnyWidth()
            let result = multiplyByQuantizedMultiplier(x, m, shift)
            let denominator = Int128(1) << Int128(31 + shift)
            let error = Int128(result) * denominator - Int128(x) * Int128(m)
            if error.magnitude > denominator.magnitude {
                Issue.record("MBQM(\(x), \(m), \(shift)) = \(result) is more than one unit from the exact value")
                return
            }
        }
    }

    // MARK: QuantizedMultiplier(real:)

    @Test func quantizedMultiplierIsWithinTwoToMinus31Relative() {
        var rng = SplitMix64(seed: 0x5131)
        var reals: [Double] = []
        for _ in 0..<100_000 {
            // Log-uniform over 2^-30 (about 9e-10) ... 2^30 (about 1.1e9).
            let magnitude = Double(sign: .plus, exponent: Int.random(in: -30...29, using: &rng),
                                   significand: Double.random(in: 1..<2, using: &rng))
            reals.append(Bool.random(using: &rng) ? magnitude : -magnitude)
        }
        for k in -31...30 {
            let p = Double(sign: .plus, exponent: k, significand: 1)
            reals += [p, -p, p * (1 + 0x1p-40), p * (1 - 0x1p-40), p * 1.5, p.nextDown, p.nextUp]
        }
        reals += [1e-9, -1e-9, 1e9, -1e9, 2_147_483_647, -2_147_483_647, 0x1p-32]
        for real in reals {
            guard let q = QuantizedMultiplier(real: real) else {
                Issue.record("QuantizedMultiplier(real: \(real)) is nil")
                continue
            }
            #expect(q.isValid, "\(real) → \(q.multiplier) >> \(q.rightShift)")
            let relative = (q.realValue - real).magnitude / real.magnitude
            #expect(relative <= 0x1p-31, "\(real) → \(q.multiplier) >> \(q.rightShift) = \(q.realValue), relative error \(relative)")
            #expect((q.multiplier < 0) == (real < 0))
        }
    }

    @Test func quantizedMultiplierRejectsWhatItCannotRepresent() {
        for real in [Double.nan, -Double.nan, Double.infinity, -Double.infinity, 0x1p31, -0x1p31, 1e10, -1e10,
                     Double.greatestFiniteMagnitude, -Double.greatestFiniteMagnitude] {
            #expect(QuantizedMultiplier(real: real) == nil, "\(real)")
        }
    }

    /// Magnitudes below the smallest normalized multiplier (2^-32) become the zero pair, which is valid.
    @Test func tinyRealsBecomeTheZeroMultiplier() throws {
        for real in [0.0, -0.0, 0x1p-33, -0x1p-33, 1e-12, Double.leastNonzeroMagnitude, -Double.leastNormalMagnitude] {
            let q = try #require(QuantizedMultiplier(real: real), "\(real)")
            #expect(q == QuantizedMultiplier(multiplier: 0, rightShift: 0), "\(real)")
            #expect(q.isValid)
            #expect(q.realValue == 0)
        }
        let smallest = try #require(QuantizedMultiplier(real: 0x1p-32))
        #expect(smallest == QuantizedMultiplier(multiplier: 1 << 30, rightShift: 31))
    }

    @Test func isValidAcceptsOnlyNormalizedPairs() {
        #expect(QuantizedMultiplier(multiplier: 0, rightShift: 0).isValid)
        #expect(!QuantizedMultiplier(multiplier: 0, rightShift: 1).isValid)
        #expect(QuantizedMultiplier(multiplier: 1 << 30, rightShift: -31).isValid)
        #expect(QuantizedMultiplier(multiplier: Int32.max, rightShift: 31).isValid)
        #expect(QuantizedMultiplier(multiplier: -Int32.max, rightShift: 0).isValid)
        #expect(!QuantizedMultiplier(multiplier: Int32.min, rightShift: 0).isValid)
        #expect(!QuantizedMultiplier(multiplier: (1 << 30) - 1, rightShift: 0).isValid)
        #expect(!QuantizedMultiplier(multiplier: 1 << 30, rightShift: 32).isValid)
        #expect(!QuantizedMultiplier(multiplier: 1 << 30, rightShift: -32).isValid)
        #expect(!QuantizedMultiplier(multiplier: 1 << 30, rightShift: 40).isValid)
    }
}
