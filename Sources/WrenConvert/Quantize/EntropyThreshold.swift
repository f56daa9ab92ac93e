import Foundation

/// The KL-divergence threshold search of TensorRT's entropy calibrator (Migacz, "8-bit Inference
/// with TensorRT", GTC 2017) as MXNet and ncnn implement it. For every candidate number of bins
/// `i` from `levels` to the histogram's size:
///
///   P = bins[0..<i] with everything beyond (the clipped outliers) added to bin i−1
///   Q = bins[0..<i] merged into `levels` groups of ⌊i / levels⌋ bins (the last takes the
///       remainder), each group's count spread evenly over the bins where P is non-empty (what
///       int8 can still tell apart)
///   KL(P ‖ Q), zero entries smoothed with ε = 1e-4 counts as MXNet does, then normalized
///
/// and returns the `i` with the smallest divergence: the threshold is `i × bin width`.
public enum EntropyThreshold {
    static let smoothing = 1e-4

    /// The number of histogram bins to keep (`levels` ≤ result ≤ histogram.count); the whole
    /// histogram when it has no more bins than levels or holds no values.
    public static func search(histogram: [UInt64], levels: Int) -> Int {
        let count = histogram.count
        guard levels >= 2, count > levels else { return count }
        let values = histogram.map { Double($0) }  // not `map(Double.init)`: that picks init(bitPattern:)
        guard values.contains(where: { $0 > 0 }) else { return count }
        // Prefix sums of the counts make every outlier and group sum O(1).
        var prefix = [Double](repeating: 0, count: count + 1)
        for index in 0..<count { prefix[index + 1] = prefix[index] + values[index] }
        var best = count
        var bestDivergence = Double.infinity
        var p = [Double](repeating: 0, count: count)
        var q = [Double](repeating: 0, count: count)
        for bins in levels...count {
            let outliers = prefix[count] - prefix[bins]
            for index in 0..<bins { p[index] = values[index] }
            p[bins - 1] += outliers
            // As MXNet: groups of ⌊bins / levels⌋ bins, the last one taking the remainder; each
            // group's count (without the outliers) is shared by its bins where P is non-empty
            // (MXNet's is_nonzeros[start:stop].sum(), so the last bin counts once it holds outliers).
            let merged = bins / levels
            for group in 0..<levels {
                let start = group * merged
                let end = group == levels - 1 ? bins : start + merged
                var filled = 0
                for index in start..<end where p[index] > 0 { filled += 1 }
                let share = filled > 0 ? (prefix[end] - prefix[start]) / Double(filled) : 0
                for index in start..<end { q[index] = p[index] > 0 ? share : 0 }
            }
            let divergence = klDivergence(p, q, count: bins)
            if divergence < bestDivergence {
                bestDivergence = divergence
                best = bins
            }
        }
        return best
    }

    /// KL(P ‖ Q) of the first `count` entries. As MXNet's `_smooth_distribution` (and ONNX
    /// Runtime's copy of it), zero entries get ε = 1e-4 *counts*, taken evenly from the non-zero
    /// entries, so Q never has a zero where P has mass; then both are normalized. Infinite when
    /// either is all zeros.
    static func klDivergence(_ p: [Double], _ q: [Double], count: Int) -> Double {
        var pZeros = 0, qZeros = 0
        for index in 0..<count {
            if p[index] == 0 { pZeros += 1 }
            if q[index] == 0 { qZeros += 1 }
        }
        guard pZeros < count, qZeros < count else { return .infinity }
        let pTaken = smoothing * Double(pZeros) / Double(count - pZeros)
        let qTaken = smoothing * Double(qZeros) / Double(count - qZeros)
        var pTotal = 0.0, qTotal = 0.0
        for index in 0..<count {
            pTotal += p[index] == 0 ? smoothing : p[index] - pTaken
            qTotal += q[index] == 0 ? smoothing : q[index] - qTaken
        }
        var sum = 0.0
        for index in 0..<count {
            let pi = (p[index] == 0 ? smoothing : p[index] - pTaken) / pTotal
            let qi = (q[index] == 0 ? smoothing : q[index] - qTaken) / qTotal
            if pi > 0 && qi > 0 { sum += pi * log(pi / qi) }
        }
        return sum
    }
}
