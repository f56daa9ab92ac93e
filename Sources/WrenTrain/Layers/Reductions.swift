/// The reductions and element-wise loops the layers share. Sums accumulate in Double (a channel of
/// a batch-64 32x32 activation is 65 536 values, and the statistics feed every later layer), over
/// 16-float vectors because a scalar Double loop cannot be vectorized (reordering changes the sum).

@inline(__always) func loadVector(_ base: UnsafePointer<Float>, _ offset: Int) -> SIMD16<Float> {
    UnsafeRawPointer(base + offset).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) func storeVector(_ vector: SIMD16<Float>, _ base: UnsafeMutablePointer<Float>, _ offset: Int) {
    UnsafeMutableRawPointer(base + offset).storeBytes(of: vector, as: SIMD16<Float>.self)
}

/// Σ values[0..<count], accumulated in Double. The order is fixed by `count` alone, so the result is
/// bit-identical from run to run.
func doubleSum(_ values: UnsafePointer<Float>, count: Int) -> Double {
    var low = SIMD8<Double>(), high = SIMD8<Double>()
    var index = 0
    while index + 16 <= count {
        let v = loadVector(values, index)
        low += SIMD8<Double>(v.lowHalf)
        high += SIMD8<Double>(v.highHalf)
        index += 16
    }
    var sum = (low + high).sum()
    while index < count {
        sum += Double(values[index])
        index += 1
    }
    return sum
}

/// Σ (values − center)², accumulated in Double: the second pass of a two-pass variance, immune to
/// the cancellation a one-pass Σx² − (Σx)²/n suffers when the mean is large.
func doubleSumOfSquaredDeviations(_ values: UnsafePointer<Float>, count: Int, center: Double) -> Double {
    let centerVector = SIMD8<Double>(repeating: center)
    var low = SIMD8<Double>(), high = SIMD8<Double>()
    var index = 0
    while index + 16 <= count {
        let v = loadVector(values, index)
        let dLow = SIMD8<Double>(v.lowHalf) - centerVector, dHigh = SIMD8<Double>(v.highHalf) - centerVector
        low += dLow * dLow
        high += dHigh * dHigh
        index += 16
    }
    var sum = (low + high).sum()
    while index < count {
        let d = Double(values[index]) - center
        sum += d * d
        index += 1
    }
    return sum
}

/// `values[i] += addend` for every i.
@inline(__always) func addScalar(_ addend: Float, to values: UnsafeMutablePointer<Float>, count: Int) {
    for index in 0..<count { values[index] += addend }
}

/// `destination[i] += source[i]`.
@inline(__always) func addInPlace(_ source: UnsafePointer<Float>, to destination: UnsafeMutablePointer<Float>, count: Int) {
    for index in 0..<count { destination[index] += source[index] }
}
