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
    ///
    /// Each window's divergence in O(levels) rather than O(bins), from prefix sums. With
    /// a = P's smoothed counts (sum: the histogram's total T) and b = Q's (sum: the window's total W),
    ///   KL = (Σ a·log a − Σ a·log b) / T + log(W / T);
    /// the smoothed zeros cancel between the two sums, b is constant over a group's non-empty bins,
    /// and Σ (p − t)·log(p − t) over the non-empty bins (t = P's smoothing, ≤ 1e-3 for all but
    /// nearly empty histograms, which take the bin-by-bin sum) is its Taylor series in t to t³
    /// from prefix sums of p·log p, log p + 1, 1/p and 1/p² (error below t⁴/12 per bin). Equal to
    /// `searchBinByBin` to ~1e-13 in the divergence; the fixture's winners lead by ≥ 1e-9.
    public static func search(histogram: [UInt64], levels: Int) -> Int {
        let count = histogram.count
        guard levels >= 2, count > levels else { return count }
        let values = histogram.map { Double($0) }  // not `map(Double.init)`: that picks init(bitPattern:)
        guard values.contains(where: { $0 > 0 }) else { return count }
        var mass = [Double](repeating: 0, count: count + 1)      // Σ p
        var filled = [Int](repeating: 0, count: count + 1)       // how many p > 0
        var series = [SIMD4<Double>](repeating: .zero, count: count + 1)  // Σ (p log p, log p + 1, 1/p, 1/p²)
        for (index, p) in values.enumerated() {
            mass[index + 1] = mass[index] + p
            filled[index + 1] = filled[index] + (p > 0 ? 1 : 0)
            let logP = p > 0 ? log(p) : 0
            series[index + 1] = series[index] + (p > 0 ? SIMD4(p * logP, logP + 1, 1 / p, 1 / (p * p)) : .zero)
        }
        let total = mass[count]
        var window = Window(values)  // for the windows the series does not serve
        var best = count
        var bestDivergence = Double.infinity
        for bins in levels...count {
            let outliers = total - mass[bins]
            let last = values[bins - 1] + outliers  // P's last bin takes the clipped values
            let nonEmpty = filled[bins - 1] + (last > 0 ? 1 : 0)
            guard nonEmpty > 0 else { continue }
            let pTaken = smoothing * Double(bins - nonEmpty) / Double(nonEmpty)
            // Q: groups of ⌊bins / levels⌋ bins (the last takes the remainder), each group's count
            // without the outliers shared by its non-empty bins of P.
            let merged = bins / levels
            func groupBins(_ group: Int) -> (start: Int, end: Int, filled: Int) {
                let isLast = group == levels - 1
                let (start, end) = (group * merged, isLast ? bins : group * merged + merged)
                return (start, end, filled[min(end, bins - 1)] - filled[start] + (isLast && last > 0 ? 1 : 0))
            }
            var qZeros = bins - nonEmpty
            for group in 0..<levels {
                let (start, end, groupFilled) = groupBins(group)
                if groupFilled > 0 && mass[end] - mass[start] == 0 { qZeros += groupFilled }
            }
            guard qZeros < bins else { continue }
            let qTaken = smoothing * Double(qZeros) / Double(bins - qZeros)
            var aLogB = 0.0
            var seriesHolds = pTaken <= 1e-3
            for group in 0..<levels where seriesHolds {
                let (start, end, groupFilled) = groupBins(group)
                guard groupFilled > 0 else { continue }
                let groupMass = mass[end] - mass[start]
                let b = groupMass > 0 ? groupMass / Double(groupFilled) - qTaken : smoothing
                seriesHolds = b > 0  // else the bin-by-bin sum skips those terms
                aLogB += (groupMass + (group == levels - 1 ? outliers : 0) - pTaken * Double(groupFilled)) * log(b)
            }
            let divergence: Double
            if seriesHolds {
                let s = series[bins - 1]
                let aLogA = (last > 0 ? (last - pTaken) * log(last - pTaken) : 0)
                    + s[0] - pTaken * s[1] + pTaken * pTaken / 2 * s[2] + pTaken * pTaken * pTaken / 6 * s[3]
                divergence = (aLogA - aLogB) / total + log(mass[bins] / total)
            } else {
                divergence = window.divergence(bins: bins, levels: levels)
            }
            if divergence < bestDivergence {
                bestDivergence = divergence
                best = bins
            }
        }
        return best
    }

    /// `search` as the definition reads: every window's P and Q built and their divergence summed
    /// bin by bin, O(bins²) logarithms. The reference twin of `search`.
    static func searchBinByBin(histogram: [UInt64], levels: Int) -> Int {
        let count = histogram.count
        guard levels >= 2, count > levels else { return count }
        let values = histogram.map { Double($0) }
        guard values.contains(where: { $0 > 0 }) else { return count }
        var window = Window(values)
        var best = count
        var bestDivergence = Double.infinity
        for bins in levels...count {
            let divergence = window.divergence(bins: bins, levels: levels)
            if divergence < bestDivergence {
                bestDivergence = divergence
                best = bins
            }
        }
        return best
    }

    /// One window's P and Q, built bin by bin, with the scratch reused across windows.
    struct Window {
        let values: [Double]
        /// Prefix sums of the counts make every outlier and group sum O(1).
        let prefix: [Double]
        var p: [Double], q: [Double]

        init(_ values: [Double]) {
            self.values = values
            var prefix = [Double](repeating: 0, count: values.count + 1)
            for index in values.indices { prefix[index + 1] = prefix[index] + values[index] }
            self.prefix = prefix
            p = [Double](repeating: 0, count: values.count)
            q = p
        }

        mutating func divergence(bins: Int, levels: Int) -> Double {
            let outliers = prefix[values.count] - prefix[bins]
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
            return klDivergence(p, q, count: bins)
        }
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
