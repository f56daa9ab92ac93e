/// The residual sum of a WRN block, `out = branch + shortcut`, needs no layer of its own:
///
/// - Forward: the shortcut is written into the block's output first, then the branch's last
///   convolution adds into it (`ConvolutionLayer.forward(…, accumulating: true)`, the GEMM's
///   beta = 1). With a 1x1 shortcut convolution that is its own output; with the identity
///   shortcut, `Residual.copy` of the block input.
/// - Backward: the output gradient fans out unchanged to both paths. Each consumer reads it; the
///   input that feeds both paths sums its two gradients by letting the second writer accumulate
///   (`accumulatingInputGradient:` / `accumulating:`), or, for the identity shortcut, by seeding the
///   input gradient with `Residual.copy` of the output gradient and letting bn1's backward add to it.
public enum Residual {
    /// `destination[0..<count] = source[0..<count]`.
    public static func copy(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableBufferPointer<Float>, count: Int) {
        precondition(count <= source.count && count <= destination.count,
                     "residual copy of \(count) values from \(source.count) into \(destination.count)")
        destination.baseAddress!.update(from: source.baseAddress!, count: count)
    }

    /// `destination[i] += source[i]` for i in 0..<count.
    public static func add(_ source: UnsafeBufferPointer<Float>, to destination: UnsafeMutableBufferPointer<Float>, count: Int) {
        precondition(count <= source.count && count <= destination.count,
                     "residual add of \(count) values from \(source.count) into \(destination.count)")
        addInPlace(source.baseAddress!, to: destination.baseAddress!, count: count)
    }
}
