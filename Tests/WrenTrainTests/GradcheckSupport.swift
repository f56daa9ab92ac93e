import Testing
import WrenTestSupport
import WrenTrain

/// What the layer tests share: seeded random tensors, central finite differences in Double, and
/// tolerance checks whose failure messages say which tensor of which shape was off, and by how much.

extension SplitMix64 {
    /// `count` values uniform in `range`, rounded to Float and back so that a Float layer and its
    /// Double reference see exactly the same numbers.
    mutating func floatExact(_ count: Int, in range: ClosedRange<Double> = -1...1) -> [Double] {
        (0..<count).map { _ in Double(Float(Double.random(in: range, using: &self))) }
    }
}

extension Array where Element == Double {
    var floats: [Float] { map { Float($0) } }
}

/// Σ a·b.
func dot(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
}

/// Central differences `(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h` for every coordinate of `x`.
func numericGradient(of f: ([Double]) -> Double, at x: [Double], step h: Double = 1e-6) -> [Double] {
    var probe = x
    return (0..<x.count).map { i in
        probe[i] = x[i] + h
        let up = f(probe)
        probe[i] = x[i] - h
        let down = f(probe)
        probe[i] = x[i]
        return (up - down) / (2 * h)
    }
}

/// The largest difference, relative to the largest magnitude of `expected` (with a floor, so an
/// all-zero gradient must come out as zeros to within `floor`).
func relativeError(_ actual: [Double], _ expected: [Double], floor: Double = 1e-12) -> Double {
    precondition(actual.count == expected.count, "comparing \(actual.count) values with \(expected.count)")
    let scale = Swift.max(expected.map(abs).max() ?? 0, floor)
    let worst = zip(actual, expected).map { abs($0 - $1) }.max() ?? 0
    return worst / scale
}

/// Expects `actual` within `tolerance` of `expected`, relative to the largest magnitude of `expected`.
func expectClose(_ actual: [Double], _ expected: [Double], tolerance: Double, _ what: @autoclosure () -> String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.count == expected.count else {
        Issue.record("\(what()): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    let error = relativeError(actual, expected)
    #expect(error <= tolerance, "\(what()): relative error \(error) > \(tolerance) (largest |expected| \(expected.map(abs).max() ?? 0))",
            sourceLocation: sourceLocation)
}

func expectClose(_ actual: [Float], _ expected: [Double], tolerance: Double, _ what: @autoclosure () -> String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    expectClose(actual.map(Double.init), expected, tolerance: tolerance, what(), sourceLocation: sourceLocation)
}

/// Float results against a Double reference: a sum of K products in Float is off by about
/// √K·2⁻²⁴ of its terms' magnitude, under 1e-5 of the output's range for every K a WRN has.
let floatTolerance = 1e-5

/// Reference backward against finite differences of the same reference's forward, in Double.
let gradcheckTolerance = 1e-6

extension TrainingBuffer {
    var doubles: [Double] { array.map(Double.init) }
}

extension UnsafeBufferPointer where Element == Float {
    var doubles: [Double] { map(Double.init) }
}
