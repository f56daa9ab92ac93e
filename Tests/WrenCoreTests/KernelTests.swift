import Testing
import WrenTestSupport
import WrenCore

/// The scalar reference kernels against naive implementations written here from
/// `formats/wren-v1.md` §7, bit for bit.
@Suite struct KernelTests {
    // MARK: conv2d

    /// One random convolution: NHWC int8 input batch, [O][kh][kw][I] weights, per-channel requantization.
    struct ConvCase: CustomStringConvertible {
        var batch, inChannels, inHeight, inWidth, outChannels, kernel, stride, padding: Int
        var inputZeroPoint, outputZeroPoint, residualZeroPoint: Int32
        var relu: Bool
        var residualMultiplier: QuantizedMultiplier?
        var input: [Int8]
        var weights: [Int8]
        var bias, multipliers, shifts: [Int32]
        var residual: [Int8]

        var outHeight: Int { (inHeight + 2 * padding - kernel) / stride + 1 }
        var outWidth: Int { (inWidth + 2 * padding - kernel) / stride + 1 }
        var depth: Int { kernel * kernel * inChannels }

        var description: String {
            "batch \(batch), \(inChannels)x\(inHeight)x\(inWidth) → \(outChannels)x\(outHeight)x\(outWidth), "
                + "k\(kernel) s\(stride) p\(padding), zx \(inputZeroPoint) zo \(outputZeroPoint), relu \(relu), "
                + "residual \(residualMultiplier.map { "\($0.multiplier)>>\($0.rightShift) zr \(residualZeroPoint)" } ?? "none")"
        }

        var parameters: Conv2DParameters {
            Conv2DParameters(
                inChannels: inChannels, inHeight: inHeight, inWidth: inWidth, outChannels: outChannels,
                outHeight: outHeight, outWidth: outWidth, kernelSize: kernel, stride: stride, padding: padding,
                inputZeroPoint: inputZeroPoint, outputZeroPoint: outputZeroPoint, relu: relu,
                residualZeroPoint: residualZeroPoint,
                residualMultiplier: residualMultiplier ?? QuantizedMultiplier(multiplier: 0, rightShift: 0))
        }

        static func random(_ rng: inout SplitMix64, outChannels forcedOutChannels: Int? = nil) -> ConvCase {
            let kernel = Bool.random(using: &rng) ? 1 : 3
            let padding = Int.random(in: 0...1, using: &rng)
            let stride = Int.random(in: 1...2, using: &rng)
            let minimum = max(1, kernel - 2 * padding)
            let inChannels = Int.random(in: 1...17, using: &rng)
            let outChannels = forcedOutChannels ?? Int.random(in: 1...17, using: &rng)
            let inHeight = Int.random(in: minimum...8, using: &rng)
            let inWidth = Int.random(in: minimum...8, using: &rng)
            let batch = Int.random(in: 1...2, using: &rng)
            var c = ConvCase(
                batch: batch, inChannels: inChannels, inHeight: inHeight, inWidth: inWidth, outChannels: outChannels,
                kernel: kernel, stride: stride, padding: padding,
                inputZeroPoint: Int32(rng.int8()), outputZeroPoint: Int32(rng.int8()), residualZeroPoint: Int32(rng.int8()),
                relu: Bool.random(using: &rng), residualMultiplier: nil, input: [], weights: [], bias: [],
                multipliers: [], shifts: [], residual: [])
            c.input = (0..<(batch * inHeight * inWidth * inChannels)).map { _ in rng.int8() }
            c.weights = (0..<(outChannels * c.depth)).map { _ in Int8.random(in: -127...127, using: &rng) }
            for o in 0..<outChannels {
                // Keep |bias| + 255·Σ|w| inside int32, as the validator guarantees for real files.
                let absSum = c.weights[(o * c.depth)..<((o + 1) * c.depth)].reduce(Int64(0)) { $0 + Int64($1.magnitude) }
                let room = Int64(Int32.max) - 255 * absSum
                let span = Bool.random(using: &rng) ? min(room, 1 << 20) : room
                c.bias.append(Int32(Int64.random(in: -span...span, using: &rng)))
                // Mostly realistic multipliers (accumulator scale / output scale), sometimes any valid pair.
                if Bool.random(using: &rng) {
                    let real = Double(sign: .plus, exponent: Int.random(in: -16 ... -4, using: &rng),
                                      significand: Double.random(in: 1..<2, using: &rng))
                    let q = QuantizedMultiplier(real: real)!
                    c.multipliers.append(q.multiplier)
                    c.shifts.append(q.rightShift)
                } else {
                    let q = rng.quantizedMultiplier()
                    c.multipliers.append(q.multiplier)
                    c.shifts.append(q.shift)
                }
            }
            if Bool.random(using: &rng) {
                let q = rng.quantizedMultiplier(shifts: -2...8)
                c.residualMultiplier = QuantizedMultiplier(multiplier: q.multiplier, rightShift: q.shift)
                c.residual = (0..<(batch * c.outHeight * c.outWidth * outChannels)).map { _ in rng.int8() }
            }
            return c
        }
    }

    /// The textbook convolution: materialize the zero-point-padded input, then seven plain loops with
    /// an Int64 accumulator, then the §7.3 epilogue through the wide-integer reference.
    static func naiveConv(_ c: ConvCase) -> [Int8] {
        let paddedHeight = c.inHeight + 2 * c.padding
        let paddedWidth = c.inWidth + 2 * c.padding
        let (outHeight, outWidth) = (c.outHeight, c.outWidth)
        var output = [Int8](repeating: 0, count: c.batch * outHeight * outWidth * c.outChannels)
        for n in 0..<c.batch {
            var padded = [Int8](repeating: Int8(c.inputZeroPoint), count: paddedHeight * paddedWidth * c.inChannels)
            for y in 0..<c.inHeight {
                for x in 0..<c.inWidth {
                    for i in 0..<c.inChannels {
                        padded[((y + c.padding) * paddedWidth + x + c.padding) * c.inChannels + i] =
                            c.input[((n * c.inHeight + y) * c.inWidth + x) * c.inChannels + i]
                    }
                }
            }
            for o in 0..<c.outChannels {
                for oy in 0..<outHeight {
                    for ox in 0..<outWidth {
                        var acc = Int64(c.bias[o])
                        for ky in 0..<c.kernel {
                            for kx in 0..<c.kernel {
                                for i in 0..<c.inChannels {
                                    let x = padded[((oy * c.stride + ky) * paddedWidth + ox * c.stride + kx) * c.inChannels + i]
                                    let w = c.weights[((o * c.kernel + ky) * c.kernel + kx) * c.inChannels + i]
                                    acc += Int64(w) * (Int64(x) - Int64(c.inputZeroPoint))
                                }
                            }
                        }
                        precondition(acc >= Int64(Int32.min) && acc <= Int64(Int32.max), "test case breaks the accumulator bound")
                        let at = ((n * outHeight + oy) * outWidth + ox) * c.outChannels + o
                        var value = Int64(WideReference.multiplyByQuantizedMultiplier(Int32(acc), c.multipliers[o], c.shifts[o]))
                        if let m = c.residualMultiplier {
                            let r = Int32(c.residual[at]) - c.residualZeroPoint
                            value += Int64(WideReference.multiplyByQuantizedMultiplier(r, m.multiplier, m.rightShift))
                        }
                        output[at] = WideReference.clampToInt8(value + Int64(c.outputZeroPoint), outputZeroPoint: c.outputZeroPoint, relu: c.relu)
                    }
                }
            }
        }
        return output
    }

    /// Runs `s8Conv2DReference` one image at a time, as `WrenContext` does.
    static func referenceConv(_ c: ConvCase) -> [Int8] {
        let perImageIn = c.inHeight * c.inWidth * c.inChannels
        let perImageOut = c.outHeight * c.outWidth * c.outChannels
        var output = [Int8](repeating: 0, count: c.batch * perImageOut)
        let patch = UnsafeMutablePointer<Int32>.allocate(capacity: c.depth)
        defer { patch.deallocate() }
        // The kernel reads the packed layout `.wren` stores; the naive twin reads [O][kh][kw][I].
        let packed = PackedConvWeights.pack(c.weights, outChannels: c.outChannels, depth: c.depth)
        c.input.withUnsafeBufferPointer { input in
            packed.withUnsafeBufferPointer { weights in
                c.bias.withUnsafeBufferPointer { bias in
                    c.multipliers.withUnsafeBufferPointer { multipliers in
                        c.shifts.withUnsafeBufferPointer { shifts in
                            c.residual.withUnsafeBufferPointer { residual in
                                output.withUnsafeMutableBufferPointer { out in
                                    for n in 0..<c.batch {
                                        s8Conv2DReference(
                                            c.parameters, input: input.baseAddress! + n * perImageIn,
                                            weights: weights.baseAddress!, bias: bias.baseAddress!,
                                            multipliers: multipliers.baseAddress!, shifts: shifts.baseAddress!,
                                            residual: c.residualMultiplier == nil ? nil : residual.baseAddress! + n * perImageOut,
                                            output: out.baseAddress! + n * perImageOut, patch: patch)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return output
    }

    @Test func conv2DMatchesNaiveConvolutionOnRandomShapes() {
        var rng = SplitMix64(seed: 0x434F_4E56)
        var seen = Set<String>()
        for index in 0..<160 {
            let c = ConvCase.random(&rng)
            seen.insert("k\(c.kernel)s\(c.stride)p\(c.padding)r\(c.relu)res\(c.residualMultiplier != nil)")
            let got = Self.referenceConv(c)
            let want = Self.naiveConv(c)
            if got != want {
                let first = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }!
                Issue.record("case \(index) [\(c)]: element \(first.offset) is \(first.element.0), naive \(first.element.1)")
            }
        }
        // Every combination of kernel, stride, padding, ReLU and residual was exercised.
        #expect(seen.count == 32)
    }

    /// Inputs and weights at the extremes with the bias that puts |acc| exactly at INT32_MAX, the
    /// largest accumulator the validator allows: nothing may wrap.
    @Test func conv2DReachesTheAccumulatorBoundWithoutWrapping() {
        for (x, zx, sign) in [(Int8(127), Int32(-128), Int64(1)), (Int8(-128), Int32(127), Int64(-1))] {
            let inChannels = 17, kernel = 3
            let depth = kernel * kernel * inChannels
            let bias = sign * (Int64(Int32.max) - 255 * 127 * Int64(depth))
            var c = ConvCase(
                batch: 1, inChannels: inChannels, inHeight: 3, inWidth: 3, outChannels: 2, kernel: kernel, stride: 1,
                padding: 0, inputZeroPoint: zx, outputZeroPoint: 0, residualZeroPoint: 0, relu: false,
                residualMultiplier: nil, input: [Int8](repeating: x, count: 9 * inChannels),
                weights: [Int8](repeating: 127, count: 2 * depth), bias: [Int32(bias), 0],
                multipliers: [1 << 30, 1 << 30], shifts: [24, 24], residual: [])
            c.shifts[1] = 20
            let got = Self.referenceConv(c)
            #expect(got == Self.naiveConv(c), "\(c)")
            // acc = ±(2^31 − 1): times 0.5 · 2^-24 is ±64 (rounded), clamped to int8.
            #expect(got[0] == (sign > 0 ? 64 : -64))
        }
    }

    // MARK: channel_affine_relu

    /// Rounding rule 2 rounds the sum once: 1.4 + 1.4 output units is 3 where rule 1's two
    /// roundings give 1 + 1; ties go away from zero; and an affine's offset keeps its fraction.
    @Test func singleRoundingRoundsTheSumOnce() {
        let fraction = Double(1 << WrenFormat.singleRoundingFractionBits)
        func requantize(_ bits: Int32, accumulator: Int32, residual: Int32) -> Int8 {
            // 0.7 has a zero right shift at rule 1, so only the sum's rounding differs.
            let m = QuantizedMultiplier(real: 0.7 * (bits == 0 ? 1 : fraction))!
            return requantizeS8(accumulator: accumulator, multiplier: m.multiplier, rightShift: m.rightShift, residual: residual,
                                residualMultiplier: m, outputZeroPoint: 3, relu: false, fractionBits: bits)
        }
        #expect(requantize(0, accumulator: 2, residual: 2) == 5)   // round(1.4) + round(1.4) + 3
        #expect(requantize(8, accumulator: 2, residual: 2) == 6)   // round(2.8) + 3
        #expect(requantize(8, accumulator: -2, residual: -2) == 0) // round(-2.8) + 3
        #expect(roundedAwayFraction(-128, 8) == -1 && roundedAwayFraction(128, 8) == 1 && roundedAwayFraction(127, 8) == 0)
        #expect(roundedAwayFraction(Int64(Int32.max) * 4, 8) == Int64(Int32.max) >> 8 + 1)
        // Affine: x − zx = 1 at 0.3, offset 0.3 (77/256 ≈ 0.301): rule 1 stores round(0.3) = 0.
        var out: Int8 = 0
        let m = QuantizedMultiplier(real: 0.3 * fraction)!
        let offset: Int32 = 77
        withUnsafePointer(to: Int8(1)) { x in withUnsafePointer(to: offset) { o in
            withUnsafePointer(to: m.multiplier) { mp in withUnsafePointer(to: m.rightShift) { sp in
                s8ChannelAffineReLUReference(pixels: 1, channels: 1, input: x, inputZeroPoint: 0, offsets: o, multipliers: mp,
                                             shifts: sp, output: &out, outputZeroPoint: 0, relu: true, fractionBits: 8)
            } }
        } }
        #expect(out == 1) // round(0.3 + 0.301)
    }

    @Test func channelAffineReLUMatchesNaiveDefinition() {
        var rng = SplitMix64(seed: 0x4146_4649)
        for index in 0..<300 {
            let pixels = Int.random(in: 1...40, using: &rng)
            let channels = Int.random(in: 1...33, using: &rng)
            let zx = Int32(rng.int8()), zo = Int32(rng.int8())
            let relu = Bool.random(using: &rng)
            let input = (0..<(pixels * channels)).map { _ in rng.int8() }
            let edgeOffsets: [Int32] = [0, 1 << 24, -(1 << 24), 127, -128, 255, -255]
            var offsets: [Int32] = [], multipliers: [Int32] = [], shifts: [Int32] = []
            for _ in 0..<channels {
                offsets.append(Bool.random(using: &rng)
                    ? edgeOffsets.randomElement(using: &rng)! : Int32.random(in: -(1 << 24)...(1 << 24), using: &rng))
                let q = rng.quantizedMultiplier(shifts: -8...31)
                multipliers.append(q.multiplier)
                shifts.append(q.shift)
            }
            var want = [Int8](repeating: 0, count: input.count)
            for p in 0..<pixels {
                for c in 0..<channels {
                    let x = Int32(input[p * channels + c]) - zx
                    let scaled = Int64(WideReference.multiplyByQuantizedMultiplier(x, multipliers[c], shifts[c]))
                    want[p * channels + c] = WideReference.clampToInt8(scaled + Int64(offsets[c]) + Int64(zo), outputZeroPoint: zo, relu: relu)
                }
            }
            var got = [Int8](repeating: 0, count: input.count)
            got.withUnsafeMutableBufferPointer { out in
                s8ChannelAffineReLUReference(
                    pixels: pixels, channels: channels, input: input, inputZeroPoint: zx, offsets: offsets,
                    multipliers: multipliers, shifts: shifts, output: out.baseAddress!, outputZeroPoint: zo, relu: relu)
            }
            #expect(got == want, "case \(index): \(pixels) pixels x \(channels) channels, zx \(zx) zo \(zo) relu \(relu)")
        }
    }

    // MARK: input quantization

    /// Values from numpy 2.4.6: `np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)` on
    /// float32 `x` and `scale` (np.round rounds half to even; inf clips to the bounds). 1e-45 in numpy
    /// is float32's smallest subnormal, `Float.leastNonzeroMagnitude`.
    static let quantizationTable: [(scale: Float, zeroPoint: Int32, x: [Float], q: [Int8])] = [
        (0.5, -3, [1.25, 1.75, -1.25, -0.25, 0.25, 0.75, 1e30, -1e30, 3.4e38, -3.4e38, 1e-30, -Float.leastNonzeroMagnitude, 63.75, 65.25, -62.25, -62.75, 0, -0.0],
         [-1, 1, -5, -3, -3, -1, 127, -128, 127, -128, -3, -3, 125, 127, -127, -128, -3, -3]),
        (Float.leastNonzeroMagnitude, 0, [1, -1, 0], [127, -128, 0]),
        (3e38, 5, [3.4e38, 1, -3.4e38], [6, 5, 4]),
        (0.1, 127, [0.05, 0.15, -25.65, -25.55], [127, 127, -128, -128]),
        (0.1, -128, [25.45, 25.55, -0.05], [126, 127, -128]),
    ]

    @Test func f32QuantizeS8MatchesNumpyOnTiesAndExtremes() {
        for row in Self.quantizationTable {
            var got = [Int8](repeating: 0, count: row.x.count)
            got.withUnsafeMutableBufferPointer { out in
                f32QuantizeS8(channels: 1, pixels: row.x.count, input: row.x, scale: row.scale, zeroPoint: row.zeroPoint, output: out.baseAddress!)
            }
            #expect(got == row.q, "scale \(row.scale) zero point \(row.zeroPoint)")
        }
    }

    /// NCHW float in, NHWC int8 out, against a Double-precision restatement of §7.2.
    @Test func f32QuantizeS8TransposesAndRoundsHalfToEven() {
        var rng = SplitMix64(seed: 0x5155_414E)
        for _ in 0..<200 {
            let channels = Int.random(in: 1...5, using: &rng), pixels = Int.random(in: 1...50, using: &rng)
            let scale = Float(Double(sign: .plus, exponent: Int.random(in: -20...4, using: &rng), significand: Double.random(in: 1..<2, using: &rng)))
            let zp = Int32(rng.int8())
            let input: [Float] = (0..<(channels * pixels)).map { _ in
                switch rng.next() % 4 {
                case 0: return Float(Int.random(in: -300...300, using: &rng)) * scale / 2  // exact halves and integers
                case 1: return Float.random(in: -1e30...1e30, using: &rng)
                default: return Float.random(in: -200...200, using: &rng) * scale
                }
            }
            var got = [Int8](repeating: 0, count: input.count)
            got.withUnsafeMutableBufferPointer { out in
                f32QuantizeS8(channels: channels, pixels: pixels, input: input, scale: scale, zeroPoint: zp, output: out.baseAddress!)
            }
            for c in 0..<channels {
                for p in 0..<pixels {
                    let ratio = input[c * pixels + p] / scale  // one f32 division, as the format says
                    let rounded = Double(ratio.rounded(.toNearestOrEven)) + Double(zp)
                    let want = Int8(min(max(rounded, -128), 127))
                    if got[p * channels + c] != want {
                        Issue.record("x \(input[c * pixels + p]) scale \(scale) zp \(zp): \(got[p * channels + c]), expected \(want)")
                        return
                    }
                }
            }
        }
    }

    // MARK: average_pool_linear

    @Test func averagePoolLinearMatchesTheSpecifiedOperationOrder() {
        var rng = SplitMix64(seed: 0x504F_4F4C)
        for index in 0..<200 {
            let pixels = Int.random(in: 1...64, using: &rng)
            let channels = Int.random(in: 1...33, using: &rng)
            let classes = Int.random(in: 1...12, using: &rng)
            let zx = Int32(rng.int8())
            let scale = Float.random(in: 0.001...0.5, using: &rng)
            let input = (0..<(pixels * channels)).map { _ in rng.int8() }
            let weights = (0..<(classes * channels)).map { _ in Float.random(in: -2...2, using: &rng) }
            let bias = (0..<classes).map { _ in Float.random(in: -1...1, using: &rng) }

            // §7.5, transcribed: int sum, then (f32(sum) · scale) / f32(H·W), then an ordered dot product.
            var features = [Float](repeating: 0, count: channels)
            for c in 0..<channels {
                var sum: Int64 = 0
                for p in 0..<pixels { sum += Int64(input[p * channels + c]) - Int64(zx) }
                features[c] = (Float(sum) * scale) / Float(pixels)
            }
            var want = [Float](repeating: 0, count: classes)
            var exact = [Double](repeating: 0, count: classes)
            var magnitude = [Double](repeating: 0, count: classes)
            for k in 0..<classes {
                var acc: Float = 0
                for c in 0..<channels {
                    let product = weights[k * channels + c] * features[c]
                    acc = acc + product
                    exact[k] += Double(weights[k * channels + c]) * Double(features[c])
                    magnitude[k] += Double(product.magnitude)
                }
                want[k] = acc + bias[k]
                exact[k] += Double(bias[k])
                magnitude[k] += Double(bias[k].magnitude)
            }

            var gotFeatures = [Float](repeating: .nan, count: channels)
            var got = [Float](repeating: .nan, count: classes)
            gotFeatures.withUnsafeMutableBufferPointer { f in
                got.withUnsafeMutableBufferPointer { l in
                    s8AveragePoolF32Linear(
                        pixels: pixels, channels: channels, classes: classes, input: input, inputZeroPoint: zx,
                        inputScale: scale, weights: weights, bias: bias, features: f.baseAddress!, logits: l.baseAddress!)
                }
            }
            #expect(gotFeatures.map(\.bitPattern) == features.map(\.bitPattern), "case \(index)")
            #expect(got.map(\.bitPattern) == want.map(\.bitPattern), "case \(index): \(pixels) pixels, \(channels) channels, \(classes) classes")
            // And the float sum is what it claims to be: within a few ulps of the exact dot product.
            for k in 0..<classes {
                #expect((Double(got[k]) - exact[k]).magnitude <= 1e-5 * magnitude[k] + 1e-30, "case \(index) class \(k)")
            }
        }
    }
}
