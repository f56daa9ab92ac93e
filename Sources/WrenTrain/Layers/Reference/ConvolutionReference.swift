/// The convolution written as its definition, in Double, over CNHW arrays: the readable reference
/// the im2col/GEMM layer is tested against, and itself checked against finite differences.
///
///     out[o, n, oy, ox] = bias[o] + Σ_{c, ky, kx} weight[o, c, ky, kx] · in[c, n, oy·s − p + ky, ox·s − p + kx]
///
/// where taps outside the input read 0.
public enum ConvolutionReference {
    public static func forward(_ g: ConvolutionGeometry, batch: Int, input: [Double], weight: [Double], bias: [Double]?) -> [Double] {
        let inShape = g.inputShape(batch: batch), outShape = g.outputShape(batch: batch)
        precondition(input.count == inShape.count && weight.count == g.weightCount && (bias?.count ?? g.outChannels) == g.outChannels)
        var output = [Double](repeating: 0, count: outShape.count)
        for o in 0..<g.outChannels {
            for n in 0..<batch {
                for oy in 0..<g.outputHeight {
                    for ox in 0..<g.outputWidth {
                        var sum = bias?[o] ?? 0
                        forEachTap(g, oy: oy, ox: ox) { ky, kx, iy, ix in
                            for c in 0..<g.inChannels {
                                sum += weight[weightIndex(g, o, c, ky, kx)] * input[inShape.index(channel: c, image: n, y: iy, x: ix)]
                            }
                        }
                        output[outShape.index(channel: o, image: n, y: oy, x: ox)] = sum
                    }
                }
            }
        }
        return output
    }

    /// Gradients of `Σ outputGradient · forward(input)` with respect to input, weight and bias.
    public static func backward(_ g: ConvolutionGeometry, batch: Int, input: [Double], weight: [Double],
                                outputGradient: [Double]) -> (input: [Double], weight: [Double], bias: [Double]?) {
        let inShape = g.inputShape(batch: batch), outShape = g.outputShape(batch: batch)
        precondition(input.count == inShape.count && weight.count == g.weightCount && outputGradient.count == outShape.count)
        var dInput = [Double](repeating: 0, count: inShape.count)
        var dWeight = [Double](repeating: 0, count: g.weightCount)
        var dBias = [Double](repeating: 0, count: g.outChannels)
        for o in 0..<g.outChannels {
            for n in 0..<batch {
                for oy in 0..<g.outputHeight {
                    for ox in 0..<g.outputWidth {
                        let dy = outputGradient[outShape.index(channel: o, image: n, y: oy, x: ox)]
                        dBias[o] += dy
                        forEachTap(g, oy: oy, ox: ox) { ky, kx, iy, ix in
                            for c in 0..<g.inChannels {
                                let inIndex = inShape.index(channel: c, image: n, y: iy, x: ix)
                                dWeight[weightIndex(g, o, c, ky, kx)] += dy * input[inIndex]
                                dInput[inIndex] += dy * weight[weightIndex(g, o, c, ky, kx)]
                            }
                        }
                    }
                }
            }
        }
        return (dInput, dWeight, g.hasBias ? dBias : nil)
    }

    /// Calls `body(ky, kx, iy, ix)` for each tap of output (oy, ox) that lands inside the input.
    private static func forEachTap(_ g: ConvolutionGeometry, oy: Int, ox: Int, _ body: (Int, Int, Int, Int) -> Void) {
        for ky in 0..<g.kernelSize {
            let iy = oy * g.stride - g.padding + ky
            guard iy >= 0 && iy < g.inputHeight else { continue }
            for kx in 0..<g.kernelSize {
                let ix = ox * g.stride - g.padding + kx
                guard ix >= 0 && ix < g.inputWidth else { continue }
                body(ky, kx, iy, ix)
            }
        }
    }

    private static func weightIndex(_ g: ConvolutionGeometry, _ o: Int, _ c: Int, _ ky: Int, _ kx: Int) -> Int {
        ((o * g.inChannels + c) * g.kernelSize + ky) * g.kernelSize + kx
    }
}
