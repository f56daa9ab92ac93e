/// Convolution of a layer that reads or writes an int16 tensor (`ModelDescription.isWide`):
/// formats/wren-v1.md §7.6. Input, residual and output are each int8 or int16; weights stay int8.
/// Such layers are few (the ones `wren convert --keep-wider` names), so they run on these portable
/// kernels while every other layer keeps the int8 fast paths.
///
///   acc = bias[o] + Σ w · (x − zx)                      exact (int64; int32 suffices for int8 x)
///   v   = (x int16 ? MBQM64(acc, m[o], s[o]) : MBQM(acc, m[o], s[o]))
///       + (residual ? MBQM(r − zr, residual_m, residual_s) : 0)
///   out = clamp(RDBPOT(clamp_i32(v), F) + zo, relu ? max(zo, min) : min, max)   [min, max] of the output type
public struct WideConv2DTile {
    public var parameters: Conv2DParameters
    /// Depth rounded up to a multiple of 4 (the packed weights' row length).
    public var paddedDepth: Int
    public var inputType: ElementType
    public var residualType: ElementType
    public var outputType: ElementType
    /// One NHWC image of `inputType`.
    public var input: UnsafeRawPointer
    /// Packed weights (`PackedConvWeights`).
    public var weights: UnsafePointer<Int8>
    /// The file's bias (slot 1), unchanged.
    public var bias: UnsafePointer<Int32>
    public var multipliers: UnsafePointer<Int32>
    public var shifts: UnsafePointer<Int32>
    /// The residual image (NHWC, output shape, `residualType`), or nil.
    public var residual: UnsafeRawPointer?
    public var output: UnsafeMutableRawPointer
    public var firstPixel: Int
    public var pixelCount: Int
    /// `WideConv2DTile.scratchBytes(paddedDepth)` bytes of this worker's own.
    public var scratch: UnsafeMutableRawPointer

    public init(
        parameters: Conv2DParameters, paddedDepth: Int, inputType: ElementType, residualType: ElementType,
        outputType: ElementType, input: UnsafeRawPointer, weights: UnsafePointer<Int8>, bias: UnsafePointer<Int32>,
        multipliers: UnsafePointer<Int32>, shifts: UnsafePointer<Int32>, residual: UnsafeRawPointer?,
        output: UnsafeMutableRawPointer, firstPixel: Int, pixelCount: Int, scratch: UnsafeMutableRawPointer
    ) {
        self.parameters = parameters
        self.paddedDepth = paddedDepth
        self.inputType = inputType
        self.residualType = residualType
        self.outputType = outputType
        self.input = input
        self.weights = weights
        self.bias = bias
        self.multipliers = multipliers
        self.shifts = shifts
        self.residual = residual
        self.output = output
        self.firstPixel = firstPixel
        self.pixelCount = pixelCount
        self.scratch = scratch
    }

    /// Rows of int32 `x − zx` the portable kernel gathers at once.
    public static let portableRows = 4

    /// Scratch one worker needs for a wide convolution of `paddedDepth` (both kernels fit in it).
    @inlinable
    public static func scratchBytes(_ paddedDepth: Int) -> Int { 4 * portableRows * paddedDepth }

    /// The epilogue both wide kernels share: output channel `o` of output element `at` from its
    /// exact accumulator (bias included).
    @inlinable @inline(__always)
    public func store(accumulator: Int64, channel o: Int, at: Int) {
        let p = parameters
        var value = inputType == .int16
            ? multiplyByQuantizedMultiplier64(accumulator, multipliers[o], shifts[o])
            : Int64(multiplyByQuantizedMultiplier(Int32(truncatingIfNeeded: accumulator), multipliers[o], shifts[o]))
        if let residual {
            let r = residualType.load(residual, at) &- p.residualZeroPoint
            value += Int64(multiplyByQuantizedMultiplier(r, p.residualMultiplier.multiplier, p.residualMultiplier.rightShift))
        }
        value = roundedAwayFraction(value, p.fractionBits) + Int64(p.outputZeroPoint)
        let minimum = Int64(outputType.minimum)
        let low = p.relu ? max(Int64(p.outputZeroPoint), minimum) : minimum
        outputType.store(Int32(min(max(value, low), Int64(outputType.maximum))), output, at)
    }
}

/// The scalar reference of a wide convolution (the definition; slow, and it allocates).
public func wideConv2DReference(_ tile: WideConv2DTile) {
    let p = tile.parameters
    let depth = p.depth
    var patch = [Int64](repeating: 0, count: depth)
    for pixel in tile.firstPixel..<(tile.firstPixel + tile.pixelCount) {
        p.forEachTap(ofPixel: pixel) { k, index in
            patch[k] = index.map { Int64(tile.inputType.load(tile.input, $0)) - Int64(p.inputZeroPoint) } ?? 0
        }
        for o in 0..<p.outChannels {
            var acc = Int64(tile.bias[o])
            for j in 0..<depth {
                acc += Int64(tile.weights[PackedConvWeights.index(channel: o, depth: j, paddedDepth: tile.paddedDepth)]) * patch[j]
            }
            tile.store(accumulator: acc, channel: o, at: pixel * p.outChannels + o)
        }
    }
}

/// The portable wide convolution: im2col 4 pixels at a time as int32 `x − zx` rows (padding taps
/// 0), then per block of 16 output channels multiply-adds of the sign-extended packed weights in
/// int32 lanes, widened into int64 every `groupsPerInt32Run` depth groups (4·64 products of at most
/// 127 · 32767 each stay below 2^31). Bit-exact with `wideConv2DReference`; builds everywhere.
/// `@inlinable`, so the x86 kernel modules compile this same source for their ISA
/// (`wideConv2DPortableAVX512`, `...AVX2`): integer code, identical results, wider vectors.
@inlinable @inline(__always)
public func wideConv2DPortable(_ tile: WideConv2DTile) {
    let groupsPerInt32Run = 64
    let rowsPerStep = WideConv2DTile.portableRows
    let p = tile.parameters
    let kp = tile.paddedDepth
    let groups = kp / 4
    let blocks = (p.outChannels + 15) / 16
    let rows = tile.scratch.assumingMemoryBound(to: Int32.self)
    let zeroPoint = p.inputZeroPoint
    let type = tile.inputType
    var start = 0
    while start < tile.pixelCount {
        let count = min(rowsPerStep, tile.pixelCount - start)
        im2colWalk(
            p, firstPixel: tile.firstPixel + start, pixelCount: count, rows: rowsPerStep, paddedDepth: kp,
            copy: { from, to, n in
                for i in 0..<n { rows[to &+ i] = type.load(tile.input, from &+ i) &- zeroPoint }
            },
            fill: { to, n, _ in (rows + to).initialize(repeating: 0, count: n) })
        for block in 0..<blocks {
            var cell = UnsafeRawPointer(tile.weights + block &* groups &* 64)
            var a0 = SIMD16<Int64>(), a1 = a0, a2 = a0, a3 = a0
            var group = 0
            while group < groups {
                let end = min(groups, group &+ groupsPerInt32Run)
                var s0 = SIMD16<Int32>(), s1 = s0, s2 = s0, s3 = s0
                for g in group..<end {
                    let w = cell.loadUnaligned(as: SIMD16<Int32>.self)
                    let w0 = (w &<< 24) &>> 24, w1 = (w &<< 16) &>> 24, w2 = (w &<< 8) &>> 24, w3 = w &>> 24
                    @inline(__always) func accumulate(_ sum: inout SIMD16<Int32>, _ row: Int) {
                        let x = rows + (row &* kp &+ g &* 4)
                        sum &+= w0 &* x[0]
                        sum &+= w1 &* x[1]
                        sum &+= w2 &* x[2]
                        sum &+= w3 &* x[3]
                    }
                    accumulate(&s0, 0)
                    accumulate(&s1, 1)
                    accumulate(&s2, 2)
                    accumulate(&s3, 3)
                    cell += 64
                }
                a0 &+= SIMD16<Int64>(truncatingIfNeeded: s0)
                a1 &+= SIMD16<Int64>(truncatingIfNeeded: s1)
                a2 &+= SIMD16<Int64>(truncatingIfNeeded: s2)
                a3 &+= SIMD16<Int64>(truncatingIfNeeded: s3)
                group = end
            }
            let channel = block &* 16
            let valid = min(16, p.outChannels &- channel)
            @inline(__always) func finish(_ sums: SIMD16<Int64>, _ row: Int) {
                let pixel = tile.firstPixel &+ start &+ row
                for lane in 0..<valid {
                    let o = channel &+ lane
                    tile.store(accumulator: sums[lane] &+ Int64(tile.bias[o]), channel: o, at: pixel &* p.outChannels &+ o)
                }
            }
            finish(a0, 0)
            if count > 1 { finish(a1, 1) }
            if count > 2 { finish(a2, 2) }
            if count > 3 { finish(a3, 3) }
        }
        start += rowsPerStep
    }
}

/// `channel_affine_relu` of a layer that reads or writes an int16 tensor (§7.6), per element:
/// out = clamp(RDBPOT(clamp_i32(MBQM(x − zx, m[c], s[c]) + offset[c]), F) + zo, relu ? max(zo, min) : min, max).
/// With int8 input and output this is `s8ChannelAffineReLUReference`.
public func wideChannelAffineReLU(
    pixels: Int, channels: Int, inputType: ElementType, input: UnsafeRawPointer, inputZeroPoint: Int32,
    offsets: UnsafePointer<Int32>, multipliers: UnsafePointer<Int32>, shifts: UnsafePointer<Int32>,
    outputType: ElementType, output: UnsafeMutableRawPointer, outputZeroPoint: Int32, relu: Bool, fractionBits: Int32
) {
    let minimum = Int64(outputType.minimum), maximum = Int64(outputType.maximum)
    let low = relu ? max(Int64(outputZeroPoint), minimum) : minimum
    for pixel in 0..<pixels {
        for c in 0..<channels {
            let at = pixel &* channels &+ c
            let scaled = multiplyByQuantizedMultiplier(inputType.load(input, at) &- inputZeroPoint, multipliers[c], shifts[c])
            let value = roundedAwayFraction(Int64(scaled) + Int64(offsets[c]), fractionBits) + Int64(outputZeroPoint)
            outputType.store(Int32(min(max(value, low), maximum)), output, at)
        }
    }
}

/// `s8AveragePoolF32Linear` for an int8 or int16 input (§7.5, unchanged arithmetic).
public func wideAveragePoolF32Linear(
    pixels: Int, channels: Int, classes: Int, inputType: ElementType, input: UnsafeRawPointer, inputZeroPoint: Int32,
    inputScale: Float, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>, features: UnsafeMutablePointer<Float>,
    logits: UnsafeMutablePointer<Float>
) {
    for c in 0..<channels {
        var sum: Int32 = 0
        for pixel in 0..<pixels { sum &+= inputType.load(input, pixel * channels + c) - inputZeroPoint }
        features[c] = (Float(sum) * inputScale) / Float(pixels)
    }
    for k in 0..<classes {
        let row = weights + k * channels
        var acc: Float = 0
        for c in 0..<channels { acc += row[c] * features[c] }
        logits[k] = acc + bias[k]
    }
}

/// Quantizes one float32 NCHW image into int16 NHWC (§7.2 for an int16 input tensor):
/// q = clamp(round_half_even(x / scale), −32767, 32767) (zero point 0). Values are finite.
public func f32QuantizeS16(
    channels: Int, pixels: Int, input: UnsafePointer<Float>, scale: Float, output: UnsafeMutablePointer<Int16>
) {
    for c in 0..<channels {
        let plane = input + c * pixels
        for pixel in 0..<pixels {
            let scaled = min(max((plane[pixel] / scale).rounded(.toNearestOrEven), -65536), 65536)
            output[pixel * channels + c] = Int16(min(max(Int32(scaled), -32767), 32767))
        }
    }
}
