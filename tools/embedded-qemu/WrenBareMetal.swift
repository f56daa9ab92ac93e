// The bare-metal entry point into WrenCore, compiled into the same Embedded Swift module as
// Sources/WrenCore (one -wmo compile, as tools/build-embedded.sh does): loads the model from memory
// without copying, plans a batch-1 context in the caller's arena and runs each image in turn; and
// checks this build's kernels against the scalar reference on random tiles.

/// Returns 0 on success; otherwise 1 (a WrenError; its text is not available without a heap-free
/// string path, so the kind is returned in `errorKind`) or 2 (the arena is too small).
@_cdecl("wren_bare_run")
public func wrenBareRun(
    _ model: UnsafeRawPointer, _ length: Int, _ input: UnsafePointer<Float>, _ images: Int,
    _ logits: UnsafeMutablePointer<Float>, _ arena: UnsafeMutableRawPointer, _ arenaCapacity: Int,
    _ arenaUsed: UnsafeMutablePointer<Int>, _ classesOut: UnsafeMutablePointer<Int>
) -> Int32 {
    do throws(WrenError) {
        let loaded = try WrenModel(borrowing: UnsafeRawBufferPointer(start: model, count: length))
        let size = try WrenContext.arenaSize(model: loaded, maxBatch: 1, kernels: bareMetalKernels)
        arenaUsed.pointee = size
        classesOut.pointee = loaded.numClasses
        guard size <= arenaCapacity else { return 2 }
        let context = try WrenContext(
            model: loaded, maxBatch: 1, arena: UnsafeMutableRawBufferPointer(start: arena, count: size), kernels: bareMetalKernels)
        let shape = loaded.input
        let perImage = shape.channels * shape.height * shape.width
        let classes = loaded.numClasses
        for image in 0..<images {
            try context.run(
                input: UnsafeBufferPointer(start: input + image * perImage, count: perImage), batch: 1,
                logits: UnsafeMutableBufferPointer(start: logits + image * classes, count: classes))
        }
        return 0
    } catch {
        return 1
    }
}

/// The kernel table this build runs: the `sdot` kernels when compiled with WREN_NEON_DOT (and
/// `-march=armv8.2-a+dotprod`, for a CPU that has them), else the portable ones.
#if WREN_NEON_DOT
let bareMetalKernels = ARM64Kernels.neonDot
#else
let bareMetalKernels = KernelTable.portable
#endif

/// Runs `bareMetalKernels` and the scalar reference on random convolution tiles (kernel 1 and 3,
/// stride 1 and 2, padding, partial channel blocks, residuals, every tile size up to a pass) and
/// returns how many tiles differ; `checked`
/// receives how many were compared, and `failure` (10 values) the first differing case: trial, in
/// and out channels, height, width, kernel, stride, padding, tile pixels, residual (0/1). All
/// buffers come from the bump heap once, sized for the largest case.
@_cdecl("wren_bare_check_kernels")
public func wrenBareCheckKernels(_ checked: UnsafeMutablePointer<Int>, _ failure: UnsafeMutablePointer<Int>) -> Int32 {
    var state: UInt64 = 0x5EED_D07
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    func pick(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    let maxPixels = 81, maxIn = 33, maxOut = 48, maxDepth = 9 * maxIn
    let input = UnsafeMutablePointer<Int8>.allocate(capacity: maxPixels * maxIn)
    let weights = UnsafeMutablePointer<Int8>.allocate(capacity: maxOut * maxDepth)
    let packed = UnsafeMutablePointer<Int8>.allocate(capacity: PackedConvWeights.byteCount(outChannels: maxOut, depth: maxDepth))
    let bias = UnsafeMutablePointer<Int32>.allocate(capacity: maxOut)
    let signedBias = UnsafeMutablePointer<Int32>.allocate(capacity: maxOut)
    let multipliers = UnsafeMutablePointer<Int32>.allocate(capacity: maxOut)
    let shifts = UnsafeMutablePointer<Int32>.allocate(capacity: maxOut)
    let residual = UnsafeMutablePointer<Int8>.allocate(capacity: maxPixels * maxOut)
    let expected = UnsafeMutablePointer<Int8>.allocate(capacity: maxPixels * maxOut)
    let actual = UnsafeMutablePointer<Int8>.allocate(capacity: maxPixels * maxOut)
    let scratchBytes = max(bareMetalKernels.scratchBytes(PackedConvWeights.paddedDepth(maxDepth)), 4 * maxDepth)
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
    var mismatches: Int32 = 0
    for trial in 0..<240 {
        let kernel = trial % 2 == 0 ? 3 : 1
        let padding = kernel == 3 ? pick(0...1) : 0
        let stride = pick(1...2)
        let inChannels = [1, 3, 4, 5, 16, 17, 33][pick(0...6)]
        let outChannels = [1, 15, 16, 17, 31, 33, 48][trial % 7]
        let height = pick(max(1, kernel - 2 * padding)...9), width = pick(max(1, kernel - 2 * padding)...9)
        let p = Conv2DParameters(
            inChannels: inChannels, inHeight: height, inWidth: width, outChannels: outChannels,
            outHeight: (height + 2 * padding - kernel) / stride + 1, outWidth: (width + 2 * padding - kernel) / stride + 1,
            kernelSize: kernel, stride: stride, padding: padding, inputZeroPoint: Int32(pick(0...255) - 128),
            outputZeroPoint: Int32(pick(0...255) - 128), relu: pick(0...1) == 1, residualZeroPoint: Int32(pick(0...255) - 128),
            residualMultiplier: QuantizedMultiplier(real: 0.1 + Double(pick(0...290)) / 100)!)
        let depth = p.depth, kp = PackedConvWeights.paddedDepth(depth), pixels = p.outHeight * p.outWidth
        for i in 0..<(height * width * inChannels) { input[i] = Int8(truncatingIfNeeded: next()) }
        for i in 0..<(outChannels * depth) { weights[i] = Int8(pick(0...254) - 127) }
        for i in 0..<PackedConvWeights.byteCount(outChannels: outChannels, depth: depth) { packed[i] = 0 }
        for o in 0..<outChannels {
            var weightSum: Int32 = 0
            for k in 0..<depth {
                packed[PackedConvWeights.index(channel: o, depth: k, paddedDepth: kp)] = weights[o * depth + k]
                weightSum &+= Int32(weights[o * depth + k])
            }
            // A bias within ±2^20 keeps every accumulator inside int32, as the converter guarantees.
            bias[o] = Int32(pick(0...(1 << 21)) - (1 << 20)) &- (p.inputZeroPoint &+ 128) &* weightSum
            signedBias[o] = bias[o] &+ 128 &* weightSum
            let scale = QuantizedMultiplier(real: Double(pick(1...500)) / 10_000)!
            multipliers[o] = scale.multiplier
            shifts[o] = scale.rightShift
        }
        let useResidual = pick(0...1) == 1
        for i in 0..<(pixels * outChannels) { residual[i] = Int8(truncatingIfNeeded: next()) }
        let tilePixels = [1, 3, 4, 5, 7, 32, 64][(trial / 7) % 7]
        func run(_ table: KernelTable, _ perTile: Int, into output: UnsafeMutablePointer<Int8>) {
            var first = 0
            while first < pixels {
                table.conv2d(S8Conv2DTile(
                    parameters: p, paddedDepth: kp, input: input, weights: packed, unsignedInputBias: bias, signedInputBias: signedBias,
                    multipliers: multipliers, shifts: shifts, residual: useResidual ? UnsafePointer(residual) : nil,
                    output: output, firstPixel: first, pixelCount: min(perTile, pixels - first), scratch: scratch))
                first += perTile
            }
        }
        run(.reference, pixels, into: expected)
        run(bareMetalKernels, tilePixels, into: actual)
        var same = true
        for i in 0..<(pixels * outChannels) where expected[i] != actual[i] { same = false }
        if !same {
            if mismatches == 0 {
                for (slot, value) in [trial, inChannels, outChannels, height, width, kernel, stride, padding, tilePixels,
                                      useResidual ? 1 : 0].enumerated() { failure[slot] = value }
            }
            mismatches += 1
        }
        checked.pointee += 1
    }
    return mismatches
}
