#if canImport(Glibc)
import Glibc  // pow, cos: the C library's, the ones CPython's float ** and math.cos call
#elseif canImport(Darwin)
import Darwin
#endif

/// The PyTorch tensor operations the optimizers use, on flat arrays, each rounding exactly where
/// torch 2.15.0's CPU kernels round. Python-float hyperparameters arrive as `Double` and are
/// rounded to the tensor's type once, as the kernels do (`Scalar.to<scalar_t>()`); scalar
/// arithmetic between them (`1 - beta1 ** step`, `lr / bias_correction1`) stays in `Double`, as
/// in Python. tools/make_optimizer_fixtures.py (`check_kernel_roundings`) asserts each of these
/// element by element against torch on every run, over vectorized and scalar-tail elements, in
/// float32 and float64:
///
/// - `a.add(b, alpha=α)` is one fused multiply-add, `fma(b, α, a)` (the kernel's `vec::fmadd`).
/// - `a.lerp(b, w)` is `fma(w, b − a, a)` when |w| < 0.5, else `fma(w − 1, b − a, b)`.
/// - `a.addcmul(t1, t2, value=s)` is `fma(s·t1, t2, a)` (`s·t1` rounded first).
/// - `a.addcdiv(t1, t2, value=s)` is `a + (s·t1)/t2`, three roundings.
/// - `a.mul(s)`, `a / s` (a true division) and `a + s` round once each.
///
/// One difference remains: this torch build's CPU `sqrt` is not correctly rounded (the script
/// measures 19.8% of float32 and 1.4% of float64 results one ulp from the correctly rounded
/// root), while `squareRoot()` here is IEEE's. Adam's denominator inherits that one-ulp difference.
enum TorchOps {
    /// `a.add(b, alpha=alpha)`.
    static func add<T: BinaryFloatingPoint>(_ a: [T], _ b: [T], alpha: Double) -> [T] {
        let alpha = T(alpha)
        return zip(a, b).map { a, b in a.addingProduct(b, alpha) }
    }

    /// `a.add(b)` (alpha 1: the fused multiply-add by 1 is a plain rounded sum).
    static func add<T: BinaryFloatingPoint>(_ a: [T], _ b: [T]) -> [T] {
        zip(a, b).map { a, b in a + b }
    }

    /// `a.add(scalar)`.
    static func add<T: BinaryFloatingPoint>(_ a: [T], scalar: Double) -> [T] {
        let scalar = T(scalar)
        return a.map { $0 + scalar }
    }

    /// `a.mul(scalar)`.
    static func mul<T: BinaryFloatingPoint>(_ a: [T], _ scalar: Double) -> [T] {
        let scalar = T(scalar)
        return a.map { $0 * scalar }
    }

    /// `a.div(scalar)` (a true division, not a multiplication by the reciprocal).
    static func div<T: BinaryFloatingPoint>(_ a: [T], _ scalar: Double) -> [T] {
        let scalar = T(scalar)
        return a.map { $0 / scalar }
    }

    /// `a.sqrt()`, correctly rounded (see the type's note).
    static func sqrt<T: BinaryFloatingPoint>(_ a: [T]) -> [T] {
        a.map { $0.squareRoot() }
    }

    /// `start.lerp(end, weight)`.
    static func lerp<T: BinaryFloatingPoint>(_ start: [T], _ end: [T], weight: Double) -> [T] {
        let weight = T(weight)
        return zip(start, end).map { start, end in lerp(start, end, weight) }
    }

    /// One element of `lerp`, the kernel's `is_lerp_weight_small` branch included.
    @inline(__always)
    static func lerp<T: BinaryFloatingPoint>(_ start: T, _ end: T, _ weight: T) -> T {
        weight.magnitude < 0.5 ? start.addingProduct(weight, end - start) : end.addingProduct(weight - 1, end - start)
    }

    /// `a.addcmul(t1, t2, value=value)`.
    static func addcmul<T: BinaryFloatingPoint>(_ a: [T], _ t1: [T], _ t2: [T], value: Double) -> [T] {
        let value = T(value)
        return (0..<a.count).map { a[$0].addingProduct(value * t1[$0], t2[$0]) }
    }

    /// `a.addcdiv(t1, t2, value=value)`.
    static func addcdiv<T: BinaryFloatingPoint>(_ a: [T], _ t1: [T], _ t2: [T], value: Double) -> [T] {
        let value = T(value)
        return (0..<a.count).map { a[$0] + (value * t1[$0]) / t2[$0] }
    }

    /// Python's `base ** exponent` on floats (CPython calls the C library's pow).
    static func power(_ base: Double, _ exponent: Double) -> Double {
        pow(base, exponent)
    }

    /// Python's `math.cos`.
    static func cosine(_ x: Double) -> Double {
        cos(x)
    }
}
