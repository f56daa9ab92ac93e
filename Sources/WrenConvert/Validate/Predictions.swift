#if canImport(Glibc)
import Glibc
#endif

/// What `wren run` says about each input: class probabilities and the top K, as text that survives
/// NaN, ±Inf and 1e38 logits. In the library rather than the CLI so the fuzzer reaches it too.
public enum Predictions {
    public struct Ranked: Equatable, Sendable {
        public var index: Int
        public var probability: Float
    }

    /// Softmax in double precision after subtracting the largest logit.
    public static func softmax(_ row: ArraySlice<Float>) -> [Float] {
        let top = row.max() ?? 0
        let exps = row.map { Double(expf($0 - top)) }
        let total = exps.reduce(0, +)
        return exps.map { Float($0 / total) }
    }

    /// The `k` most probable classes, ties to the lower index.
    public static func topK(_ probabilities: [Float], k: Int) -> [Ranked] {
        let pairs = probabilities.enumerated().map { Ranked(index: $0.offset, probability: $0.element) }
        let sorted = pairs.sorted { a, b in a.probability > b.probability || (a.probability == b.probability && a.index < b.index) }
        return Array(sorted.prefix(max(k, 0)))
    }

    /// The top-K classes of each row of `logits` ([N, classes]).
    public static func ranked(_ logits: [Float], classes: Int, top: Int) -> [[Ranked]] {
        guard classes > 0 else { return [] }
        return stride(from: 0, to: logits.count - classes + 1, by: classes).map { start in
            topK(softmax(logits[start..<(start + classes)]), k: min(top, classes))
        }
    }

    /// "cat (97.1%), dog (2.0%)": one input's line of `wren run`.
    public static func line(_ ranked: [Ranked], label: (Int) -> String) -> String {
        ranked.map { "\(label($0.index)) (\(percent($0.probability)))" }.joined(separator: ", ")
    }

    /// The index of the largest value of each row (the first of equals; NaN never wins).
    public static func argmaxRows(_ values: [Float], classes: Int) -> [Int] {
        guard classes > 0 else { return [] }
        return stride(from: 0, to: values.count - classes + 1, by: classes).map { start in
            var best = start
            for i in start..<(start + classes) where values[i] > values[best] { best = i }
            return best - start
        }
    }

    /// A probability in percent, truncated to one decimal; a non-finite one prints as it is ("nan%") rather than trapping.
    public static func percent(_ p: Float) -> String {
        let tenths = (Double(p) * 1000).rounded(.towardZero)
        guard tenths.isFinite, abs(tenths) < 1e15 else { return "\(Double(p) * 100)%" }
        return "\(tenths / 10)%"
    }
}
