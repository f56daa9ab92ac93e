/// One unit of convolution work: `pixelCount` consecutive output pixels of one image, all output
/// channels. The context cuts every convolution into such tiles and hands them to a kernel, on
/// whichever worker thread runs them; `scratch` belongs to that worker.
public struct S8Conv2DTile {
    public var parameters: Conv2DParameters
    /// Depth rounded up to a multiple of 4 (the packed weights' row length).
    public var paddedDepth: Int
    /// One NHWC int8 image.
    public var input: UnsafePointer<Int8>
    /// Packed weights (`PackedConvWeights`).
    public var weights: UnsafePointer<Int8>
    /// `bias[o] − (zx + 128) · Σ_k w[o][k]`: the bias seen by kernels that multiply `x + 128`.
    public var unsignedInputBias: UnsafePointer<Int32>
    public var multipliers: UnsafePointer<Int32>
    public var shifts: UnsafePointer<Int32>
    /// The residual image (NHWC, output shape), or nil. A kernel reads it only at this tile's own
    /// pixels, and each pixel's residual before writing that pixel's output: the arena may give a
    /// fused affine's output the residual's bytes (`ArenaPlan.residualReplacedByFusedAffine`), so
    /// other tiles overwrite their pixels of it while this tile runs.
    public var residual: UnsafePointer<Int8>?
    /// The output image (NHWC).
    public var output: UnsafeMutablePointer<Int8>
    public var firstPixel: Int
    public var pixelCount: Int
    public var scratch: UnsafeMutableRawPointer
    /// `PackedConvWeights.kernelRowInputBias` of this convolution when kernels may skip kernel
    /// rows that lie wholly in the padding (only if `PackedConvWeights.canSkipKernelRows`), or nil.
    public var kernelRowBias: UnsafePointer<Int32>?
    /// `bias[o] − zx · Σ_k w[o][k]`: the bias seen by kernels that multiply signed `x` (AArch64 `sdot`).
    public var signedInputBias: UnsafePointer<Int32>
    /// How far each pointer above may be read or written, as its owner allocated it.
    public var counts: Counts

    /// The elements behind each of the tile's pointers (bytes for `scratch`), carried beside the
    /// raw pointers as swift-collections' `_UnsafeHandle` carries its capacity: debug builds
    /// assert every tile's reach against them (`assertInBounds`, `store`); with -O the asserts,
    /// and so all the checking, compile away. `.unchecked` (every count `Int.max`) for callers
    /// that do not say.
    public struct Counts: Sendable {
        public var input: Int
        public var weights: Int
        public var unsignedInputBias: Int
        public var signedInputBias: Int
        public var multipliers: Int
        public var shifts: Int
        public var residual: Int
        public var output: Int
        public var scratch: Int
        public var kernelRowBias: Int

        public init(
            input: Int, weights: Int, unsignedInputBias: Int, signedInputBias: Int, multipliers: Int, shifts: Int,
            residual: Int, output: Int, scratch: Int, kernelRowBias: Int
        ) {
            self.input = input
            self.weights = weights
            self.unsignedInputBias = unsignedInputBias
            self.signedInputBias = signedInputBias
            self.multipliers = multipliers
            self.shifts = shifts
            self.residual = residual
            self.output = output
            self.scratch = scratch
            self.kernelRowBias = kernelRowBias
        }

        public static let unchecked = Counts(
            input: .max, weights: .max, unsignedInputBias: .max, signedInputBias: .max, multipliers: .max, shifts: .max,
            residual: .max, output: .max, scratch: .max, kernelRowBias: .max)
    }

    public init(
        parameters: Conv2DParameters, paddedDepth: Int, input: UnsafePointer<Int8>, weights: UnsafePointer<Int8>,
        unsignedInputBias: UnsafePointer<Int32>, signedInputBias: UnsafePointer<Int32>, multipliers: UnsafePointer<Int32>,
        shifts: UnsafePointer<Int32>, residual: UnsafePointer<Int8>?, output: UnsafeMutablePointer<Int8>, firstPixel: Int,
        pixelCount: Int, scratch: UnsafeMutableRawPointer, kernelRowBias: UnsafePointer<Int32>? = nil,
        counts: Counts = .unchecked
    ) {
        self.parameters = parameters
        self.paddedDepth = paddedDepth
        self.input = input
        self.weights = weights
        self.unsignedInputBias = unsignedInputBias
        self.multipliers = multipliers
        self.shifts = shifts
        self.residual = residual
        self.output = output
        self.firstPixel = firstPixel
        self.pixelCount = pixelCount
        self.scratch = scratch
        self.kernelRowBias = kernelRowBias
        self.signedInputBias = signedInputBias
        self.counts = counts
        assertInBounds()
    }

    /// Debug builds: traps when the tile reaches past any of its `counts` (compiled out with -O).
    /// `scratchBytes` is what the kernel about to run needs of `scratch` (its table's `scratchBytes`).
    @inlinable @inline(__always)
    public func assertInBounds(scratchBytes: Int = 0) {
        assert(boundsViolation(scratchBytes: scratchBytes) == nil, "S8Conv2DTile: \(boundsViolation(scratchBytes: scratchBytes) ?? "")")
    }

    /// The first pointer this tile reaches past its count with, or nil: what every kernel may
    /// touch (whole padded weight rows and bias blocks, the tile's own pixels of output and residual).
    public func boundsViolation(scratchBytes: Int = 0) -> String? {
        let p = parameters
        guard firstPixel >= 0, pixelCount >= 0, firstPixel + pixelCount <= p.outHeight * p.outWidth else {
            return "pixels \(firstPixel)..<\(firstPixel + pixelCount) outside the \(p.outHeight)x\(p.outWidth) output"
        }
        guard paddedDepth == PackedConvWeights.paddedDepth(p.depth) else {
            return "paddedDepth \(paddedDepth) is not depth \(p.depth) rounded up to a multiple of 4"
        }
        let paddedChannels = PackedConvWeights.paddedChannels(p.outChannels)
        let reach = (firstPixel + pixelCount) * p.outChannels
        // One check after another, no array: a debug build's run must not allocate either.
        func past(_ name: StaticString, _ needed: Int, _ count: Int) -> String? {
            needed > count ? "\(name) needs \(needed) elements, has \(count)" : nil
        }
        if let v = past("input", p.inHeight * p.inWidth * p.inChannels, counts.input) { return v }
        if let v = past("weights", paddedChannels * paddedDepth, counts.weights) { return v }
        if let v = past("unsignedInputBias", p.outChannels, counts.unsignedInputBias) { return v }
        if let v = past("signedInputBias", p.outChannels, counts.signedInputBias) { return v }
        if let v = past("multipliers", p.outChannels, counts.multipliers) { return v }
        if let v = past("shifts", p.outChannels, counts.shifts) { return v }
        if let v = past("residual", residual == nil ? 0 : reach, counts.residual) { return v }
        if let v = past("output", reach, counts.output) { return v }
        if let v = past("scratch", scratchBytes, counts.scratch) { return v }
        if let v = past("kernelRowBias", kernelRowBias == nil ? 0 : p.kernelSize * paddedChannels, counts.kernelRowBias) { return v }
        return nil
    }

    /// `kernelRowBias` when this convolution's kernel rows are whole depth groups
    /// (`PackedConvWeights.canSkipKernelRows`), so a kernel may skip rows of padding; else nil.
    @inlinable
    public var skippableKernelRowBias: UnsafePointer<Int32>? {
        let p = parameters
        return PackedConvWeights.canSkipKernelRows(kernelSize: p.kernelSize, inChannels: p.inChannels, padding: p.padding)
            ? kernelRowBias : nil
    }

    /// The kernel rows `start..<end` that are not wholly padding for every one of `count` output
    /// pixels from `pixel` (relative to `firstPixel`) on; `(0, kernelSize)` when the tile may not
    /// skip rows (`skippableKernelRowBias` is nil). Kernels skip the other rows' taps and start
    /// from those rows' `kernelRowBias` instead.
    @inlinable @inline(__always)
    public func liveKernelRows(pixel: Int, count: Int) -> (start: Int, end: Int) {
        let p = parameters
        guard skippableKernelRowBias != nil else { return (0, p.kernelSize) }
        let top = (firstPixel &+ pixel) / p.outWidth, bottom = (firstPixel &+ pixel &+ count &- 1) / p.outWidth
        let start = min(p.kernelSize, max(0, p.padding &- bottom &* p.stride))
        let end = max(start, min(p.kernelSize, p.inHeight &+ p.padding &- top &* p.stride))
        return (start, end)
    }

    /// The depth groups `start..<end` a kernel accumulates for the kernel rows `rows`
    /// (`liveKernelRows`): those rows' groups when rows may be skipped, else every group.
    @inlinable @inline(__always)
    public func depthGroups(of rows: (start: Int, end: Int)) -> (start: Int, end: Int) {
        guard skippableKernelRowBias != nil else { return (0, paddedDepth / PackedConvWeights.depthGroup) }
        let rowGroups = parameters.kernelSize &* parameters.inChannels / PackedConvWeights.depthGroup
        return (rows.start &* rowGroups, rows.end &* rowGroups)
    }

    /// Runs `pass` on consecutive parts of this tile of at most `pixels` pixels each: kernels that
    /// im2col a fixed number of rows into their scratch at once.
    @inlinable @inline(__always)
    public func forEachPass(of pixels: Int, _ pass: (S8Conv2DTile) -> Void) {
        var first = 0
        while first < pixelCount {
            var part = self
            part.firstPixel = firstPixel &+ first
            part.pixelCount = min(pixels, pixelCount &- first)
            pass(part)
            first &+= pixels
        }
    }

    /// Stores 16 requantized channels of one pixel starting at channel `block · 16`, handling the
    /// last partial block and the residual. Shared by every kernel so the epilogue is one code path.
    @inlinable @inline(__always)
    public func store(pixel: Int, block: Int, accumulator: SIMD16<Int32>) {
        let p = parameters
        let channel = block &* 16
        let valid = min(16, p.outChannels &- channel)
        let at = (firstPixel &+ pixel) &* p.outChannels &+ channel
        assert(pixel >= 0 && pixel < pixelCount && at >= 0 && at &+ valid <= counts.output && (residual == nil || at &+ valid <= counts.residual),
               "S8Conv2DTile.store: pixel \(pixel) of \(pixelCount), channels \(channel)..<\(channel &+ valid) past the output")
        do {
            for lane in 0..<valid {
                let o = channel &+ lane
                output[at &+ lane] = requantizeS8(
                    accumulator: accumulator[lane] &+ unsignedInputBias[o], multiplier: multipliers[o], rightShift: shifts[o],
                    residual: residual.map { Int32($0[at &+ lane]) &- p.residualZeroPoint },
                    residualMultiplier: p.residualMultiplier, outputZeroPoint: p.outputZeroPoint, relu: p.relu,
                    fractionBits: p.fractionBits)
            }
        }
    }
}
