#if arch(x86_64)
import CWrenCPU
import Testing
import WrenCore
@testable import WrenKernelsAVX512VNNI
@testable import WrenKernelsAVX2

/// The vector requantizations (AVX-512, AVX2) rest on two identities (formats/wren-v1.md §7.1
/// rewritten for vectors); this checks them against the scalar definition on the values most
/// likely to break them: extreme accumulators, ties, every shift, both multiplier signs.
@Suite struct RequantizeVectorTests {
    /// Values, multipliers and shifts, sorted by shift so that whole vectors with only right
    /// shifts take the path without the saturating left shift.
    static func cases() -> (values: [Int32], multipliers: [Int32], shifts: [Int32]) {
        var g = SystemRandomNumberGenerator()
        let special: [Int32] = [0, 1, -1, 2, -2, 3, -3, Int32.max, Int32.min, Int32.min + 1, Int32.max - 1,
                                1 << 30, -(1 << 30), (1 << 30) - 1, -(1 << 30) - 1, 255, -255, 1 << 15, -(1 << 15)]
        var values: [Int32] = [], multipliers: [Int32] = [], shifts: [Int32] = []
        for shift in Int32(-31)...31 {
            for multiplier in [Int32(1 << 30), Int32.max, -Int32.max, -(1 << 30), 1_518_500_250, -1_518_500_250, 0] {
                for value in special {
                    values.append(value); multipliers.append(multiplier); shifts.append(multiplier == 0 ? 0 : shift)
                }
            }
        }
        for _ in 0..<200_000 {
            let multiplier = Int32.random(in: (1 << 30)...Int32.max, using: &g) * (Bool.random(using: &g) ? 1 : -1)
            let shift = Int32.random(in: -31...31, using: &g)
            // Ties of the final rounding: values whose product lands on a half.
            let value = Bool.random(using: &g) ? Int32.random(in: Int32.min...Int32.max, using: &g)
                                                : Int32.random(in: -4096...4096, using: &g)
            values.append(value); multipliers.append(multiplier); shifts.append(shift)
        }
        while values.count % 16 != 0 { values.append(0); multipliers.append(0); shifts.append(0) }
        let order = values.indices.sorted { shifts[$0] < shifts[$1] }
        return (order.map { values[$0] }, order.map { multipliers[$0] }, order.map { shifts[$0] })
    }

    static func expectScalarResults(_ vector: [Int32], for c: (values: [Int32], multipliers: [Int32], shifts: [Int32])) {
        var mismatches = 0
        for i in c.values.indices {
            let expected = multiplyByQuantizedMultiplier(c.values[i], c.multipliers[i], c.shifts[i])
            if vector[i] != expected {
                mismatches += 1
                if mismatches <= 5 { Issue.record("x \(c.values[i]) m \(c.multipliers[i]) shift \(c.shifts[i]): \(vector[i]) ≠ \(expected)") }
            }
        }
        #expect(mismatches == 0)
    }

    @Test(.enabled(if: wren_cpu_has_avx512vnni() != 0, "needs AVX-512 (this CPU reports none)"))
    func avx512MatchesTheScalarDefinition() {
        let c = Self.cases()
        Self.expectScalarResults(requantizeAVX512ForTesting(c.values, multipliers: c.multipliers, shifts: c.shifts), for: c)
    }

    @Test(.enabled(if: wren_cpu_has_avx2() != 0, "needs AVX2 (this CPU reports none)"))
    func avx2MatchesTheScalarDefinition() {
        let c = Self.cases()
        Self.expectScalarResults(requantizeAVX2ForTesting(c.values, multipliers: c.multipliers, shifts: c.shifts), for: c)
    }
}
#endif
