import Synchronization

/// Runs a `WrenModel`: owns the arena (activations + scratch) planned once at creation, so `run`
/// allocates nothing. One context serves one thread at a time; create one per thread (a `run`
/// that finds another thread inside is refused with `WrenError.contextBusy`).
public final class WrenContext {
    /// The most arena memory a context allocates unless given a larger `arenaLimit`: 1 GiB. A
    /// WRN-28-10 on 32x32 images needs under 2 MB per image in flight (under 512 MB with every
    /// activation of 64 images retained), while a small hostile file can declare tensors that
    /// would need terabytes; this refuses those before allocating anything.
    public static let defaultArenaLimit = 1 << 30

    public let model: WrenModel
    public let maxBatch: Int
    public let plan: ArenaPlan
    public let kernels: KernelTable
    public let parallelism: Parallelism
    /// Whether every tensor keeps its values after `run` (see `activations(tensor:batch:)`).
    public let retainsActivations: Bool
    private let arena: UnsafeMutableRawPointer
    private let ownsArena: Bool
    /// Set while a `run` is in progress: the activations of one run fill the whole arena, so a
    /// second thread entering would silently corrupt both runs' logits.
    private let running = Atomic<Bool>(false)

    /// - Parameters:
    ///   - retainActivations: keep every tensor's values after `run` (no buffer reuse), for
    ///     inspecting intermediate activations.
    ///   - kernels: which convolution kernel to run (all give identical results).
    ///   - parallelism: the host's thread pool, or `.serial`.
    ///   - arenaLimit: the most bytes the arena may take (`arenaTooLarge` beyond it).
    public init(
        model: WrenModel, maxBatch: Int = 1, retainActivations: Bool = false, kernels: KernelTable = .portable,
        parallelism: Parallelism = .serial, arenaLimit: Int = WrenContext.defaultArenaLimit
    ) throws(WrenError) {
        let plan = try Self.plan(model, maxBatch: maxBatch, retainActivations: retainActivations, kernels: kernels, parallelism: parallelism)
        guard plan.size <= arenaLimit else { throw .arenaTooLarge(bytes: plan.size, limit: arenaLimit, maxBatch: maxBatch) }
        guard let arena = ArenaMemory.allocate(byteCount: plan.size) else { throw .outOfMemory(bytes: plan.size) }
        self.model = model
        self.maxBatch = maxBatch
        self.plan = plan
        self.kernels = kernels
        self.parallelism = parallelism
        self.retainsActivations = retainActivations
        self.arena = arena
        self.ownsArena = true
    }

    /// Runs in memory the caller owns (at least `arenaSize(model:maxBatch:...)` bytes, 64-byte
    /// aligned), which must outlive the context. No arena limit applies: the memory exists already.
    public init(
        model: WrenModel, maxBatch: Int, arena: UnsafeMutableRawBufferPointer, kernels: KernelTable = .portable,
        parallelism: Parallelism = .serial
    ) throws(WrenError) {
        let plan = try Self.plan(model, maxBatch: maxBatch, retainActivations: false, kernels: kernels, parallelism: parallelism)
        guard let base = arena.baseAddress else { throw .invalidInput("the arena is empty (\(plan.size) bytes needed)") }
        guard arena.count >= plan.size else {
            throw .invalidInput("the arena holds \(arena.count) bytes, \(plan.size) needed for batch \(maxBatch)")
        }
        guard UInt(bitPattern: base) % UInt(WrenFormat.alignment) == 0 else {
            throw .invalidInput("the arena must be \(WrenFormat.alignment)-byte aligned")
        }
        self.model = model
        self.maxBatch = maxBatch
        self.plan = plan
        self.kernels = kernels
        self.parallelism = parallelism
        self.retainsActivations = false
        self.arena = base
        self.ownsArena = false
    }

    /// Bytes a context for `model` at `maxBatch` needs.
    public static func arenaSize(
        model: WrenModel, maxBatch: Int, retainActivations: Bool = false, kernels: KernelTable = .portable,
        parallelism: Parallelism = .serial
    ) throws(WrenError) -> Int {
        try plan(model, maxBatch: maxBatch, retainActivations: retainActivations, kernels: kernels, parallelism: parallelism).size
    }

    private static func plan(
        _ model: WrenModel, maxBatch: Int, retainActivations: Bool, kernels: KernelTable, parallelism: Parallelism
    ) throws(WrenError) -> ArenaPlan {
        guard maxBatch >= 1, maxBatch <= 1 << 16 else {
            throw .invalidInput("maximum batch \(maxBatch) is outside 1...65536")
        }
        guard parallelism.workers >= 1, parallelism.workers <= 1024 else {
            throw .invalidInput("worker count \(parallelism.workers) is outside 1...1024")
        }
        let plan = ArenaPlan(
            model: model.description, maxBatch: maxBatch, retainActivations: retainActivations,
            workers: parallelism.workers, kernels: kernels)
        // The plan's sizes saturate at Int.max; no memory, the caller's included, can hold that.
        guard plan.size < Int.max else { throw .arenaTooLarge(bytes: plan.size, limit: Int.max, maxBatch: maxBatch) }
        return plan
    }

    deinit {
        if ownsArena { ArenaMemory.free(arena) }
    }

    public var arenaSize: Int { plan.size }

    /// Runs `batch` images. `input` is float32 NCHW `[batch, 3, H, W]`, already normalized;
    /// `logits` receives `[batch, classes]`.
    public func run(input: UnsafeBufferPointer<Float>, batch: Int, logits: UnsafeMutableBufferPointer<Float>) throws(WrenError) {
        let (inputBase, logitsBase) = try checked(input: input, batch: batch, logits: logits)
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            throw .contextBusy
        }
        defer { running.store(false, ordering: .releasing) }

        // Image by image through the whole network, from input quantization to logits: one image's
        // activations stay in cache from layer to layer, which a layer-by-layer pass over a large
        // batch would evict. With several workers and at least as many images, each worker runs
        // whole images in its own slot (no synchronization between layers); the images left over,
        // and a batch smaller than the worker count, share every layer among the workers.
        let workers = parallelism.workers
        // (A batch of at least `workers` images means maxBatch ≥ workers, so the plan has a slot per worker.)
        let together = workers > 1 && !retainsActivations ? batch / workers * workers : 0
        if together > 0 {
            var job = ImageJob(context: Unmanaged.passUnretained(self), input: inputBase, logits: logitsBase)
            withUnsafeMutablePointer(to: &job) { parallelism.run(together, runImageTask, $0) }
        }
        for image in together..<batch {
            runImage(image, slot: retainsActivations ? image : 0, worker: nil, input: inputBase, logits: logitsBase)
        }
    }

    /// Time per layer, as `profile` measures it, in the units of its clock.
    public struct LayerProfile: Sendable {
        /// Quantizing the float input.
        public var input: UInt64 = 0
        /// Per layer of the description; a layer fused into the one before it stays 0 (its time
        /// is that layer's).
        public var layers: [UInt64]

        /// Zero times for a model of `layerCount` layers.
        public init(layerCount: Int) {
            layers = [UInt64](repeating: 0, count: layerCount)
        }
    }

    /// Runs `batch` images as `run` does for images that share every layer among the workers (the
    /// batch-1 path), adding each step's time as `clock` reads it to `profile`: what
    /// `wren bench --profile` prints. WrenCore has no clock of its own (it builds as Embedded Swift).
    public func profile(
        input: UnsafeBufferPointer<Float>, batch: Int, logits: UnsafeMutableBufferPointer<Float>, clock: () -> UInt64,
        into profile: inout LayerProfile
    ) throws(WrenError) {
        let (inputBase, logitsBase) = try checked(input: input, batch: batch, logits: logits)
        guard profile.layers.count == model.description.layers.count else {
            throw .invalidInput("the profile has \(profile.layers.count) layers, the model \(model.description.layers.count)")
        }
        guard running.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            throw .contextBusy
        }
        defer { running.store(false, ordering: .releasing) }
        for image in 0..<batch {
            var last = clock()
            runImage(image, slot: retainsActivations ? image : 0, worker: nil, input: inputBase, logits: logitsBase) { step in
                let now = clock()
                if let step { profile.layers[step] &+= now &- last } else { profile.input &+= now &- last }
                last = now
            }
        }
    }

    /// The checks every run makes before touching memory: batch, buffer sizes, finite input.
    private func checked(
        input: UnsafeBufferPointer<Float>, batch: Int, logits: UnsafeMutableBufferPointer<Float>
    ) throws(WrenError) -> (UnsafePointer<Float>, UnsafeMutablePointer<Float>) {
        let description = model.description
        let info = description.input
        let perImage = info.channels * info.height * info.width
        guard batch >= 1 else { throw .invalidInput("batch must be at least 1, got \(batch)") }
        guard batch <= maxBatch else { throw .batchTooLarge(batch: batch, maxBatch: maxBatch) }
        // (batch ≤ 65536 and at most 2^28 values per image and 2^20 classes: these products fit a
        // 64-bit Int, not always a 32-bit one.)
        let (values, valuesOverflow) = batch.multipliedReportingOverflow(by: perImage)
        guard !valuesOverflow, input.count == values else {
            let total = valuesOverflow ? "" : " = \(values)"
            throw .invalidInput("expected \(batch)x\(info.channels)x\(info.height)x\(info.width)\(total) values, got \(input.count)")
        }
        let (outputs, outputsOverflow) = batch.multipliedReportingOverflow(by: description.numClasses)
        guard !outputsOverflow, logits.count >= outputs else {
            let total = outputsOverflow ? "" : " = \(outputs)"
            throw .invalidInput("logits buffer holds \(logits.count) values, \(batch)x\(description.numClasses)\(total) needed")
        }
        guard let inputBase = input.baseAddress, let logitsBase = logits.baseAddress else {
            throw .invalidInput("empty buffer")
        }
        for index in 0..<input.count where !input[index].isFinite {
            throw .invalidInput("input value \(index) (image \(index / perImage)) is \(input[index])")
        }
        return (inputBase, logitsBase)
    }

    /// Runs one image through the network in `slot`: alone on `worker`, or with every layer shared
    /// among the workers when `worker` is nil.
    /// `stepDone` is called after the input's quantization (nil) and after each layer that runs
    /// (its index), for `profile`.
    fileprivate func runImage(
        _ image: Int, slot: Int, worker: Int?, input: UnsafePointer<Float>, logits: UnsafeMutablePointer<Float>,
        stepDone: (Int?) -> Void = { _ in }
    ) {
        let description = model.description
        let info = description.input
        let perImage = info.channels * info.height * info.width
        let inputTensor = description.tensors[info.tensor]
        switch inputTensor.elementType {
        case .int8:
            f32QuantizeS8(
                channels: info.channels, pixels: info.height * info.width, input: input + image * perImage,
                scale: inputTensor.scale, zeroPoint: inputTensor.zeroPoint, output: tensor(info.tensor, slot: slot))
        case .int16:
            f32QuantizeS16(
                channels: info.channels, pixels: info.height * info.width, input: input + image * perImage,
                scale: inputTensor.scale, output: UnsafeMutableRawPointer(tensor(info.tensor, slot: slot)).assumingMemoryBound(to: Int16.self))
        }
        stepDone(nil)
        for (index, layer) in description.layers.enumerated() where !description.runsFusedWithPrevious(index) {
            execute(layer, index: index, slot: slot, worker: worker, logits: logits + image * description.numClasses)
            stepDone(index)
        }
    }

    /// Convenience for host code: runs `input` (NCHW float32) and returns the logits.
    public func run(_ input: [Float], batch: Int) throws(WrenError) -> [Float] {
        var logits = [Float](repeating: 0, count: batch * model.numClasses)
        try input.withUnsafeBufferPointer { (inputBuffer) throws(WrenError) in
            try logits.withUnsafeMutableBufferPointer { (logitsBuffer) throws(WrenError) in
                try run(input: inputBuffer, batch: batch, logits: logitsBuffer)
            }
        }
        return logits
    }

    /// The int8 NHWC values of `tensor` for the first `batch` images after the last `run`. Only
    /// meaningful for every tensor when the context was made with `retainActivations`.
    /// Nil for an int16 tensor (see `wideActivations(tensor:batch:)`).
    public func activations(tensor index: Int, batch: Int) -> UnsafeBufferPointer<Int8>? {
        guard retainsActivations, index >= 0, index < model.description.tensors.count, plan.tensorOffsets[index] != nil,
              model.description.tensors[index].elementType == .int8, batch >= 1, batch <= maxBatch else { return nil }
        return UnsafeBufferPointer(start: tensor(index, slot: 0), count: model.description.tensors[index].elementCount * batch)
    }

    /// The int16 NHWC values of an int16 `tensor`, as `activations(tensor:batch:)` gives int8 ones;
    /// nil for an int8 tensor.
    public func wideActivations(tensor index: Int, batch: Int) -> UnsafeBufferPointer<Int16>? {
        guard retainsActivations, index >= 0, index < model.description.tensors.count, plan.tensorOffsets[index] != nil,
              model.description.tensors[index].elementType == .int16, batch >= 1, batch <= maxBatch else { return nil }
        return UnsafeBufferPointer(
            start: UnsafeRawPointer(tensor(index, slot: 0)).assumingMemoryBound(to: Int16.self),
            count: model.description.tensors[index].elementCount * batch)
    }

    fileprivate func tensor(_ index: Int, slot: Int) -> UnsafeMutablePointer<Int8> {
        (arena + plan.offset(tensor: index, slot: slot)!).assumingMemoryBound(to: Int8.self)
    }

    /// Runs `tasks` on every worker, or all on `worker` when one is given.
    private func dispatch(_ tasks: Int, _ task: Parallelism.Task, _ context: UnsafeMutableRawPointer, alone worker: Int?) {
        if let worker {
            for index in 0..<tasks { task(context, index, worker) }
        } else {
            parallelism.run(tasks, task, context)
        }
    }

    fileprivate func blob<T>(_ range: BlobRange, as type: T.Type) -> UnsafePointer<T> {
        (model.bytes.baseAddress! + range.offset).assumingMemoryBound(to: T.self)
    }

    /// Runs one layer on the image in `slot`, alone on `worker` or shared among all workers.
    private func execute(_ layer: LayerInfo, index: Int, slot: Int, worker: Int?, logits: UnsafeMutablePointer<Float>) {
        if model.wideLayers[index] {
            executeWide(layer, index: index, slot: slot, worker: worker, logits: logits)
            return
        }
        let tensors = model.description.tensors
        let input = tensors[layer.input]
        let source = tensor(layer.input, slot: slot)
        let workers = worker == nil ? parallelism.workers : 1
        switch layer.op {
        case .conv2d:
            let out = tensors[layer.output!]
            let residualInfo = layer.residual.map { tensors[$0] }
            let parameters = Conv2DParameters(
                inChannels: input.channels, inHeight: input.height, inWidth: input.width,
                outChannels: out.channels, outHeight: out.height, outWidth: out.width,
                kernelSize: layer.kernelSize, stride: layer.stride, padding: layer.padding,
                inputZeroPoint: input.zeroPoint, outputZeroPoint: out.zeroPoint, relu: layer.relu,
                residualZeroPoint: residualInfo?.zeroPoint ?? 0, residualMultiplier: layer.residualMultiplier,
                fractionBits: model.description.fractionBits(of: layer))
            let destination = tensor(layer.output!, slot: slot)
            let residual = layer.residual.map { UnsafePointer(tensor($0, slot: slot)) }
            let pixels = out.height * out.width
            // At least two tiles per worker, so small late layers (8x8 maps) still use every thread;
            // multiples of 8 pixels keep the microkernels' row groups full.
            let share = workers > 1 ? ((pixels + 2 * workers - 1) / (2 * workers) + 7) / 8 * 8 : pixels
            let perTile = max(1, min(kernels.pixelsPerTile, share, pixels))
            let tiles = (pixels + perTile - 1) / perTile
            let weights = blob(layer.weights, as: Int8.self)
            let multipliers = blob(layer.multipliers, as: Int32.self)
            let shifts = blob(layer.shifts, as: Int32.self)
            let paddedDepth = PackedConvWeights.paddedDepth(parameters.depth)
            let scratchBase = arena + plan.scratchOffset
            let scratchPerWorker = plan.scratchPerWorker
            let biases = model.convolutionBiases[index]!
            var job = ConvolutionJob(
                kernel: kernels.conv2d, parameters: parameters, paddedDepth: paddedDepth, input: source,
                weights: weights, bias: biases.unsignedInputBias, multipliers: multipliers, shifts: shifts,
                residual: residual, output: destination, pixels: pixels, perTile: perTile,
                scratch: scratchBase, scratchPerWorker: scratchPerWorker, kernelRowBias: biases.kernelRowBias,
                signedInputBias: biases.signedInputBias,
                counts: S8Conv2DTile.Counts(
                    input: input.elementCount, weights: layer.weights.length, unsignedInputBias: PackedConvWeights.paddedChannels(out.channels),
                    signedInputBias: PackedConvWeights.paddedChannels(out.channels), multipliers: layer.multipliers.length / 4,
                    shifts: layer.shifts.length / 4, residual: residualInfo?.elementCount ?? 0, output: out.elementCount,
                    scratch: scratchPerWorker,
                    kernelRowBias: biases.kernelRowBias == nil ? 0 : layer.kernelSize * PackedConvWeights.paddedChannels(out.channels)),
                affine: nil)
            if model.description.runsFusedWithPrevious(index + 1) {
                var affine = channelAffineJob(model.description.layers[index + 1], slot: slot, perTask: perTile)
                withUnsafeMutablePointer(to: &affine) { affine in
                    job.affine = UnsafePointer(affine)
                    withUnsafeMutablePointer(to: &job) { dispatch(tiles, runConvolutionTile, $0, alone: worker) }
                }
            } else {
                withUnsafeMutablePointer(to: &job) { dispatch(tiles, runConvolutionTile, $0, alone: worker) }
            }
        case .channelAffineReLU:
            let pixels = input.height * input.width
            let perTask = max(64, (pixels + 4 * workers - 1) / (4 * workers))
            var job = channelAffineJob(layer, slot: slot, perTask: perTask)
            withUnsafeMutablePointer(to: &job) { dispatch((pixels + perTask - 1) / perTask, runChannelAffineTile, $0, alone: worker) }
        case .averagePoolLinear:
            s8AveragePoolF32Linear(
                pixels: input.height * input.width, channels: input.channels, classes: layer.outChannels,
                input: source, inputZeroPoint: input.zeroPoint, inputScale: input.scale,
                weights: blob(layer.weights, as: Float.self), bias: blob(layer.bias, as: Float.self),
                features: (arena + plan.scratchOffset + (worker ?? 0) * plan.scratchPerWorker).assumingMemoryBound(to: Float.self),
                logits: logits)
        }
    }
}

extension WrenContext {
    /// Conv2DParameters of a validated conv layer.
    fileprivate func convolutionParameters(_ layer: LayerInfo) -> Conv2DParameters {
        let tensors = model.description.tensors
        let input = tensors[layer.input], out = tensors[layer.output!]
        return Conv2DParameters(
            inChannels: input.channels, inHeight: input.height, inWidth: input.width,
            outChannels: out.channels, outHeight: out.height, outWidth: out.width,
            kernelSize: layer.kernelSize, stride: layer.stride, padding: layer.padding,
            inputZeroPoint: input.zeroPoint, outputZeroPoint: out.zeroPoint, relu: layer.relu,
            residualZeroPoint: layer.residual.map { tensors[$0].zeroPoint } ?? 0, residualMultiplier: layer.residualMultiplier,
            fractionBits: model.description.fractionBits(of: layer))
    }

    /// Runs a layer that reads or writes an int16 tensor on the wide kernels (§7.6): convolutions
    /// through `kernels.wideConv2D` in tiles like the int8 ones, the affine and the pool in the
    /// portable element-wise code.
    fileprivate func executeWide(_ layer: LayerInfo, index: Int, slot: Int, worker: Int?, logits: UnsafeMutablePointer<Float>) {
        let tensors = model.description.tensors
        let input = tensors[layer.input]
        let source = UnsafeRawPointer(tensor(layer.input, slot: slot))
        let workers = worker == nil ? parallelism.workers : 1
        switch layer.op {
        case .conv2d:
            let parameters = convolutionParameters(layer)
            let pixels = parameters.outHeight * parameters.outWidth
            let share = workers > 1 ? (pixels + 2 * workers - 1) / (2 * workers) : pixels
            let perTile = max(1, min(32, share, pixels))
            var job = WideConvolutionJob(
                kernel: kernels.wideConv2D,
                tile: WideConv2DTile(
                    parameters: parameters, paddedDepth: PackedConvWeights.paddedDepth(parameters.depth),
                    inputType: input.elementType, residualType: layer.residual.map { tensors[$0].elementType } ?? .int8,
                    outputType: tensors[layer.output!].elementType, input: source, weights: blob(layer.weights, as: Int8.self),
                    bias: blob(layer.bias, as: Int32.self), multipliers: blob(layer.multipliers, as: Int32.self),
                    shifts: blob(layer.shifts, as: Int32.self), residual: layer.residual.map { UnsafeRawPointer(tensor($0, slot: slot)) },
                    output: UnsafeMutableRawPointer(tensor(layer.output!, slot: slot)), firstPixel: 0, pixelCount: 0,
                    scratch: arena + plan.scratchOffset),
                pixels: pixels, perTile: perTile, scratchPerWorker: plan.scratchPerWorker)
            withUnsafeMutablePointer(to: &job) { dispatch((pixels + perTile - 1) / perTile, runWideConvolutionTile, $0, alone: worker) }
        case .channelAffineReLU:
            let out = tensors[layer.output!]
            wideChannelAffineReLU(
                pixels: input.height * input.width, channels: input.channels, inputType: input.elementType, input: source,
                inputZeroPoint: input.zeroPoint, offsets: blob(layer.offsets, as: Int32.self),
                multipliers: blob(layer.multipliers, as: Int32.self), shifts: blob(layer.shifts, as: Int32.self),
                outputType: out.elementType, output: UnsafeMutableRawPointer(tensor(layer.output!, slot: slot)),
                outputZeroPoint: out.zeroPoint, relu: layer.relu, fractionBits: model.description.fractionBits(of: layer))
        case .averagePoolLinear:
            wideAveragePoolF32Linear(
                pixels: input.height * input.width, channels: input.channels, classes: layer.outChannels,
                inputType: input.elementType, input: source, inputZeroPoint: input.zeroPoint, inputScale: input.scale,
                weights: blob(layer.weights, as: Float.self), bias: blob(layer.bias, as: Float.self),
                features: (arena + plan.scratchOffset + (worker ?? 0) * plan.scratchPerWorker).assumingMemoryBound(to: Float.self),
                logits: logits)
        }
    }

    /// A channel-affine layer's shared state for the image in `slot`, cut into tasks of `perTask` pixels.
    fileprivate func channelAffineJob(_ layer: LayerInfo, slot: Int, perTask: Int) -> ChannelAffineJob {
        let tensors = model.description.tensors
        let input = tensors[layer.input], out = tensors[layer.output!]
        return ChannelAffineJob(
            kernel: kernels.channelAffineReLU, pixels: input.height * input.width, perTask: perTask, channels: input.channels,
            input: tensor(layer.input, slot: slot), inputZeroPoint: input.zeroPoint, offsets: blob(layer.offsets, as: Int32.self),
            multipliers: blob(layer.multipliers, as: Int32.self), shifts: blob(layer.shifts, as: Int32.self),
            output: tensor(layer.output!, slot: slot), outputZeroPoint: out.zeroPoint, relu: layer.relu,
            fractionBits: model.description.fractionBits(of: layer))
    }
}

/// A batch run with one image per task, each worker in its own slot.
private struct ImageJob {
    var context: Unmanaged<WrenContext>
    var input: UnsafePointer<Float>
    var logits: UnsafeMutablePointer<Float>
}

private func runImageTask(_ job: UnsafeMutableRawPointer, _ image: Int, _ worker: Int) {
    let job = job.assumingMemoryBound(to: ImageJob.self).pointee
    job.context._withUnsafeGuaranteedRef {
        $0.runImage(image, slot: worker, worker: worker, input: job.input, logits: job.logits)
    }
}

/// Everything one convolution layer's tiles share, on the stack of `run` while the layer executes.
private struct ConvolutionJob {
    var kernel: @Sendable (S8Conv2DTile) -> Void
    var parameters: Conv2DParameters
    var paddedDepth: Int
    var input: UnsafePointer<Int8>
    var weights: UnsafePointer<Int8>
    var bias: UnsafePointer<Int32>
    var multipliers: UnsafePointer<Int32>
    var shifts: UnsafePointer<Int32>
    var residual: UnsafePointer<Int8>?
    var output: UnsafeMutablePointer<Int8>
    var pixels: Int
    var perTile: Int
    var scratch: UnsafeMutableRawPointer
    var scratchPerWorker: Int
    var kernelRowBias: UnsafePointer<Int32>?
    var signedInputBias: UnsafePointer<Int32>
    /// Per-tile counts (`scratch` per worker) for the tiles' debug bounds checks.
    var counts: S8Conv2DTile.Counts
    /// The channel affine fused into this convolution (`runsFusedWithPrevious`), cut into tasks of
    /// the convolution's tiles: tile `i` runs affine task `i` on the pixels it has just written.
    var affine: UnsafePointer<ChannelAffineJob>?
}

private func runConvolutionTile(_ context: UnsafeMutableRawPointer, _ index: Int, _ worker: Int) {
    let job = context.assumingMemoryBound(to: ConvolutionJob.self)
    let first = index * job.pointee.perTile
    job.pointee.kernel(S8Conv2DTile(
        parameters: job.pointee.parameters, paddedDepth: job.pointee.paddedDepth,
        input: job.pointee.input, weights: job.pointee.weights,
        unsignedInputBias: job.pointee.bias, signedInputBias: job.pointee.signedInputBias,
        multipliers: job.pointee.multipliers, shifts: job.pointee.shifts,
        residual: job.pointee.residual, output: job.pointee.output,
        firstPixel: first, pixelCount: min(job.pointee.perTile, job.pointee.pixels - first),
        scratch: job.pointee.scratch + worker * job.pointee.scratchPerWorker, kernelRowBias: job.pointee.kernelRowBias,
        counts: job.pointee.counts))
    if let affine = job.pointee.affine { runChannelAffineTile(UnsafeMutableRawPointer(mutating: affine), index, worker) }
}

/// One wide convolution layer's shared state: `tile` with every field but the pixel range and scratch.
private struct WideConvolutionJob {
    var kernel: @Sendable (WideConv2DTile) -> Void
    var tile: WideConv2DTile
    var pixels: Int
    var perTile: Int
    var scratchPerWorker: Int
}

private func runWideConvolutionTile(_ context: UnsafeMutableRawPointer, _ index: Int, _ worker: Int) {
    let job = context.assumingMemoryBound(to: WideConvolutionJob.self)
    var tile = job.pointee.tile
    tile.firstPixel = index * job.pointee.perTile
    tile.pixelCount = min(job.pointee.perTile, job.pointee.pixels - tile.firstPixel)
    tile.scratch = tile.scratch + worker * job.pointee.scratchPerWorker
    job.pointee.kernel(tile)
}

/// One channel-affine layer's shared state.
private struct ChannelAffineJob {
    var kernel: @Sendable (S8ChannelAffineTile) -> Void
    var pixels: Int
    var perTask: Int
    var channels: Int
    var input: UnsafePointer<Int8>
    var inputZeroPoint: Int32
    var offsets: UnsafePointer<Int32>
    var multipliers: UnsafePointer<Int32>
    var shifts: UnsafePointer<Int32>
    var output: UnsafeMutablePointer<Int8>
    var outputZeroPoint: Int32
    var relu: Bool
    var fractionBits: Int32
}

private func runChannelAffineTile(_ context: UnsafeMutableRawPointer, _ index: Int, _ worker: Int) {
    let job = context.assumingMemoryBound(to: ChannelAffineJob.self)
    let first = index * job.pointee.perTask
    let offset = first * job.pointee.channels
    job.pointee.kernel(S8ChannelAffineTile(
        pixels: min(job.pointee.perTask, job.pointee.pixels - first), channels: job.pointee.channels,
        input: job.pointee.input + offset, inputZeroPoint: job.pointee.inputZeroPoint, offsets: job.pointee.offsets,
        multipliers: job.pointee.multipliers, shifts: job.pointee.shifts, output: job.pointee.output + offset,
        outputZeroPoint: job.pointee.outputZeroPoint, relu: job.pointee.relu, fractionBits: job.pointee.fractionBits))
}
