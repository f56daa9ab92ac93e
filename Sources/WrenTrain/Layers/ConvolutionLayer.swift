import CBLAS

/// A 2-D convolution over a CNHW batch, forward and backward, as im2col + `cblas_sgemm`:
///
///     output[O, N·Ho·Wo] = weight[O, C·k·k] × columns[C·k·k, N·Ho·Wo]
///
/// with im2col rows `(c, ky, kx)` and columns `(n, oy, ox)`; a 1x1 stride-1 unpadded convolution
/// uses its input as the column matrix. The GEMM's columns are cut into chunks of whole images, at
/// most `imagesPerChunk` (so the column matrix one GEMM reads, 9× its input, stays in cache instead
/// of round-tripping through memory) and at most an equal share of the batch per team member.
/// Each member takes an equal share of the batch's images, in chunks, and does their im2col, GEMMs
/// and col2im with its own scratch; outputs and gradients are addressed in place (leading
/// dimension N·Ho·Wo), so nothing is copied. Backward:
///
///     dWeight  = dOutput × columnsᵀ            (overwritten; per-member partials summed in member order)
///     dBias[o] = Σ dOutput[o, ·]               (overwritten; in Double)
///     dInput   = col2im(weightᵀ × dOutput)     (overwritten or accumulated; skipped when not asked for)
///
/// On CPUs with AVX-512, 3x3 stride-1 "same" convolutions (nearly all of a WRN's arithmetic) run
/// their forward, input gradient and weight gradient through `DirectConvolution` instead, which
/// needs no column matrix; its weight gradient is split by channels, not summed from partials.
///
/// The layer owns its parameters, their gradients and the members' partial weight gradients. The
/// caller owns the activations (input, output, their gradients) and one scratch buffer of at least
/// `scratchCount` floats, which every convolution of a network can share: a layer only uses it
/// during one call. Sized for `maxBatch` images at setup; any batch up to it runs without
/// allocating.
public final class ConvolutionLayer {
    public let geometry: ConvolutionGeometry
    public let maxBatch: Int
    /// The most images whose columns one GEMM covers.
    public let imagesPerChunk: Int
    public let team: ThreadTeam
    /// `[out, in, k, k]`, PyTorch's layout. Zero until the caller initializes or loads it.
    public let weight: TrainingBuffer
    public let weightGradient: TrainingBuffer
    public let bias: TrainingBuffer?
    public let biasGradient: TrainingBuffer?
    /// Members 1..<count accumulate their chunks' weight gradients here (member 0 writes
    /// `weightGradient` directly); `memberHasChunks` records who had any at the current batch.
    private let partialWeightGradients: TrainingBuffer
    private let memberHasChunks: UnsafeMutableBufferPointer<Bool>
    /// The direct kernel, when it runs this layer's forward (and, if it computes one, input gradient).
    private let direct: DirectConvolution?

    /// Whether the forward pass runs the direct 3x3 kernel rather than im2col + GEMM.
    public var usesDirectKernel: Bool { direct != nil }
    /// Whether this CPU runs the direct kernel at all (AVX-512 with VNNI, what its module is compiled for).
    public static var cpuHasDirectKernel: Bool { DirectConvolution.cpuSupportsKernel }

    /// The column matrix one chunk may occupy by default: small enough that every member's chunk
    /// stays in a server CPU's last-level cache beside the weights and output rows, large enough
    /// that each GEMM still has thousands of columns.
    public static let defaultChunkBytes = 4 << 20

    /// `imagesPerChunk` nil picks the most images whose column matrix fits `defaultChunkBytes`
    /// (at least one); tests pass small values to run several chunks on small shapes. A 1x1
    /// stride-1 unpadded convolution reads its input in place and needs no chunk limit.
    /// `allowsDirectKernel` false keeps every pass on im2col + GEMM (tests compare the two).
    public init(_ geometry: ConvolutionGeometry, maxBatch: Int, imagesPerChunk: Int? = nil,
                team: ThreadTeam = .single, allowsDirectKernel: Bool = true) throws(TrainingError) {
        guard maxBatch > 0 else { throw .invalidConfiguration("\(geometry): batch size \(maxBatch)") }
        // cblas takes Int32 extents; the widest is the GEMM's column count N·Ho·Wo.
        let columns = maxBatch.multipliedReportingOverflow(by: geometry.outputHeight * geometry.outputWidth)
        guard !columns.overflow, columns.partialValue <= Int(Int32.max),
              geometry.reduction <= Int(Int32.max),
              !geometry.reduction.multipliedReportingOverflow(by: columns.partialValue).overflow else {
            throw .invalidConfiguration("\(geometry) at batch \(maxBatch): the GEMM is larger than BLAS's 32-bit extents")
        }
        if let imagesPerChunk, imagesPerChunk < 1 {
            throw .invalidConfiguration("\(geometry): \(imagesPerChunk) images per chunk")
        }
        self.geometry = geometry
        self.maxBatch = maxBatch
        self.team = team
        if geometry.readsInputAsColumns {
            self.imagesPerChunk = maxBatch
        } else {
            let imageColumnBytes = geometry.reduction * geometry.outputHeight * geometry.outputWidth * MemoryLayout<Float>.stride
            self.imagesPerChunk = min(maxBatch, imagesPerChunk ?? max(1, Self.defaultChunkBytes / imageColumnBytes))
        }
        weight = TrainingBuffer(count: geometry.weightCount)
        weightGradient = TrainingBuffer(count: geometry.weightCount)
        bias = geometry.hasBias ? TrainingBuffer(count: geometry.outChannels) : nil
        biasGradient = geometry.hasBias ? TrainingBuffer(count: geometry.outChannels) : nil
        partialWeightGradients = TrainingBuffer(count: (team.count - 1) * geometry.weightCount)
        memberHasChunks = .allocate(capacity: team.count)
        memberHasChunks.initialize(repeating: false)
        direct = allowsDirectKernel ? DirectConvolution(geometry) : nil
    }

    deinit { memberHasChunks.deallocate() }

    /// Floats of scratch `forward` and `backward` need: one chunk's column matrix per team member
    /// (0 when the input is its own column matrix), or the direct weight gradient's chunk if larger.
    public var scratchCount: Int {
        max(team.count * memberScratchCount, direct?.weightGradientScratchCount(maxBatch: maxBatch) ?? 0)
    }

    /// Whether the weight gradient is the direct kernel's rather than per-member GEMM partials.
    private var directWeightGradient: Bool { direct?.computesWeightGradient == true }

    private var memberScratchCount: Int { geometry.scratchCount(batch: imagesPerChunk) }

    /// "weight", then "bias" if there is one.
    public var parameters: [TrainableParameter] {
        var result = [TrainableParameter(name: "weight", value: weight, gradient: weightGradient)]
        if let bias, let biasGradient { result.append(TrainableParameter(name: "bias", value: bias, gradient: biasGradient)) }
        return result
    }

    /// `output = conv(input)` or, with `accumulating`, `output += conv(input)`: a residual sum
    /// formed inside the GEMM (beta = 1) instead of in a separate pass. The bias is added either way.
    public func forward(input: UnsafeBufferPointer<Float>, batch: Int, output: UnsafeMutableBufferPointer<Float>,
                        accumulating: Bool = false, scratch: UnsafeMutableBufferPointer<Float>) {
        let g = geometry
        let inShape = g.inputShape(batch: batch), outShape = g.outputShape(batch: batch)
        check(batch: batch, scratch: scratch)
        precondition(input.count >= inShape.count && output.count >= outShape.count,
                     "\(g) forward at \(inShape): input holds \(input.count), output \(output.count) values")
        let call = Call(layer: self, batch: batch, chunkImages: chunkSize(batch: batch), input: input.baseAddress!,
                        output: output.baseAddress!, accumulating: accumulating, scratch: scratch.baseAddress)
        direct?.packForward(weight.values.baseAddress!)
        team.run({ call, member in
            let call = call.assumingMemoryBound(to: Call.self).pointee
            call.layer.forward(call, member: member)
        }, with: call)
    }

    /// Gradients for the `input` that `forward` last saw (the caller still holds it: it is the
    /// previous layer's output). Writes `weightGradient` and `biasGradient`; writes `inputGradient`
    /// (or adds to it, with `accumulatingInputGradient`: how a residual fan-in sums its branches)
    /// unless it is nil, as for the stem convolution whose input is the data.
    public func backward(input: UnsafeBufferPointer<Float>, outputGradient: UnsafeBufferPointer<Float>, batch: Int,
                         inputGradient: UnsafeMutableBufferPointer<Float>?, accumulatingInputGradient: Bool = false,
                         scratch: UnsafeMutableBufferPointer<Float>) {
        let g = geometry
        let inShape = g.inputShape(batch: batch), outShape = g.outputShape(batch: batch)
        check(batch: batch, scratch: scratch)
        precondition(input.count >= inShape.count && outputGradient.count >= outShape.count
                         && (inputGradient?.count ?? inShape.count) >= inShape.count,
                     "\(g) backward at \(inShape): input \(input.count), output gradient \(outputGradient.count), "
                         + "input gradient \(inputGradient?.count ?? 0) values")
        let call = Call(layer: self, batch: batch, chunkImages: chunkSize(batch: batch), input: input.baseAddress!,
                        output: UnsafeMutablePointer(mutating: outputGradient.baseAddress!), accumulating: accumulatingInputGradient,
                        scratch: scratch.baseAddress, inputGradient: inputGradient?.baseAddress)
        if inputGradient != nil, let direct, direct.computesInputGradient { direct.packBackward(weight.values.baseAddress!) }
        if directWeightGradient { directWeightGradient(call) }
        team.run({ call, member in
            let call = call.assumingMemoryBound(to: Call.self).pointee
            call.layer.backward(call, member: member)
        }, with: call)
        // Member order, so the sum is the same every run. Member 0 writes the total directly, or,
        // when the batch is smaller than the team and its share empty, leaves it to be zeroed.
        let total = weightGradient.values.baseAddress!
        if !directWeightGradient && !memberHasChunks[0] { total.update(repeating: 0, count: g.weightCount) }
        for member in 1..<team.count where memberHasChunks[member] && !directWeightGradient {
            addInPlace(partialWeightGradients.values.baseAddress! + (member - 1) * g.weightCount, to: total, count: g.weightCount)
        }
    }

    /// One forward or backward call, as each team member reads it.
    private struct Call {
        let layer: ConvolutionLayer
        let batch: Int
        let chunkImages: Int
        let input: UnsafePointer<Float>
        /// The output (forward) or the output gradient (backward, read only).
        let output: UnsafeMutablePointer<Float>
        /// Forward: add to the output; backward: add to the input gradient.
        let accumulating: Bool
        /// Nil only for a 1x1 stride-1 unpadded convolution handed an empty scratch.
        let scratch: UnsafeMutablePointer<Float>?
        var inputGradient: UnsafeMutablePointer<Float>? = nil
    }

    /// The direct kernel's weight gradient, chunk by chunk: the members first copy their images of
    /// the chunk into the scratch, then each computes its share of the work items over all of it.
    private func directWeightGradient(_ call: Call) {
        let direct = direct!
        let chunkImages = direct.weightGradientChunkImages(maxBatch: maxBatch)
        for start in stride(from: 0, to: call.batch, by: chunkImages) {
            let chunk = WeightGradientChunk(call: call, images: start..<min(call.batch, start + chunkImages))
            team.run({ chunk, member in
                let chunk = chunk.assumingMemoryBound(to: WeightGradientChunk.self).pointee, call = chunk.call
                let layer = call.layer
                layer.direct!.prepareWeightGradient(input: call.input, outputGradient: call.output, batch: call.batch, chunk: chunk.images,
                                                    images: layer.team.share(of: chunk.images.count, member: member),
                                                    maxBatch: layer.maxBatch, scratch: call.scratch!)
            }, with: chunk)
            team.run({ chunk, member in
                let chunk = chunk.assumingMemoryBound(to: WeightGradientChunk.self).pointee, call = chunk.call
                let layer = call.layer, direct = layer.direct!
                direct.weightGradient(chunkImages: chunk.images.count, maxBatch: layer.maxBatch, scratch: call.scratch!,
                                      into: layer.weightGradient.values.baseAddress!, accumulating: chunk.images.lowerBound > 0,
                                      items: layer.team.share(of: direct.weightGradientItems, member: member))
            }, with: chunk)
        }
    }

    private struct WeightGradientChunk {
        let call: Call
        let images: Range<Int>
    }

    /// Member `member`'s chunks of a forward call.
    private func forward(_ call: Call, member: Int) {
        let g = geometry
        let columnCount = call.batch * g.outputHeight * g.outputWidth
        let outPlane = g.outputHeight * g.outputWidth
        if let direct {
            direct.forward(input: call.input, batch: call.batch, output: call.output, bias: bias.map { UnsafePointer($0.values.baseAddress!) },
                           accumulating: call.accumulating, images: team.share(of: call.batch, member: member))
            return
        }
        let memberScratch = call.scratch.map { $0 + member * memberScratchCount }
        for images in memberChunks(batch: call.batch, chunkImages: call.chunkImages, member: member) {
            let chunkColumns = images.count * outPlane
            let columns: UnsafePointer<Float>
            let columnStride: Int
            if g.readsInputAsColumns {
                (columns, columnStride) = (call.input + images.lowerBound * outPlane, columnCount)
            } else {
                im2col(call.input, batch: call.batch, images: images, into: memberScratch!)
                (columns, columnStride) = (UnsafePointer(memberScratch!), chunkColumns)
            }
            let target = call.output + images.lowerBound * outPlane
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                        Int32(g.outChannels), Int32(chunkColumns), Int32(g.reduction),
                        1, weight.values.baseAddress!, Int32(g.reduction),
                        columns, Int32(columnStride),
                        call.accumulating ? 1 : 0, target, Int32(columnCount))
            if let bias {
                for channel in 0..<g.outChannels {
                    addScalar(bias.values[channel], to: target + channel * columnCount, count: chunkColumns)
                }
            }
        }
    }

    /// Member `member`'s share of a backward call: its channels of the bias gradient, and its
    /// chunks' weight-gradient partial and input gradient.
    private func backward(_ call: Call, member: Int) {
        let g = geometry
        let columnCount = call.batch * g.outputHeight * g.outputWidth
        let inPlane = g.inputHeight * g.inputWidth, outPlane = g.outputHeight * g.outputWidth
        let dy = UnsafePointer(call.output)
        if let biasGradient {
            for channel in team.share(of: g.outChannels, member: member) {
                biasGradient.values[channel] = Float(doubleSum(dy + channel * columnCount, count: columnCount))
            }
        }
        let memberScratch = call.scratch.map { $0 + member * memberScratchCount }
        let memberWeightGradient = member == 0
            ? weightGradient.values.baseAddress!
            : partialWeightGradients.values.baseAddress! + (member - 1) * g.weightCount
        // The direct kernel computes the input gradient over this member's share of images instead,
        // and the weight gradient before this call.
        let directInputGradient = direct?.computesInputGradient == true
        let gemmInputGradient = call.inputGradient != nil && !directInputGradient
        var first = true
        for images in memberChunks(batch: call.batch, chunkImages: call.chunkImages, member: member)
        where !directWeightGradient || gemmInputGradient {
            let chunkColumns = images.count * outPlane
            let dyChunk = dy + images.lowerBound * outPlane
            if !directWeightGradient {
                // The columns are rebuilt rather than kept from forward: one im2col pass costs far
                // less than holding every layer's column matrix (9× its input) for the whole step.
                let columns: UnsafePointer<Float>
                let columnStride: Int
                if g.readsInputAsColumns {
                    (columns, columnStride) = (call.input + images.lowerBound * outPlane, columnCount)
                } else {
                    im2col(call.input, batch: call.batch, images: images, into: memberScratch!)
                    (columns, columnStride) = (UnsafePointer(memberScratch!), chunkColumns)
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                            Int32(g.outChannels), Int32(g.reduction), Int32(chunkColumns),
                            1, dyChunk, Int32(columnCount),
                            columns, Int32(columnStride),
                            first ? 0 : 1, memberWeightGradient, Int32(g.reduction))
                first = false
            }
            guard let dx = call.inputGradient, gemmInputGradient else { continue }
            if g.readsInputAsColumns {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                            Int32(g.inChannels), Int32(chunkColumns), Int32(g.outChannels),
                            1, weight.values.baseAddress!, Int32(g.reduction),
                            dyChunk, Int32(columnCount),
                            call.accumulating ? 1 : 0, dx + images.lowerBound * inPlane, Int32(columnCount))
                continue
            }
            // The column gradients overwrite the columns, which dWeight no longer needs.
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                        Int32(g.reduction), Int32(chunkColumns), Int32(g.outChannels),
                        1, weight.values.baseAddress!, Int32(g.reduction),
                        dyChunk, Int32(columnCount),
                        0, memberScratch!, Int32(chunkColumns))
            // With flat shifts the centre tap covers every input value, so it overwrites instead
            // of the gradient being zeroed first.
            if !call.accumulating && !tapsAreFlatShifts {
                for channel in 0..<g.inChannels {
                    (dx + (channel * call.batch + images.lowerBound) * inPlane).update(repeating: 0, count: images.count * inPlane)
                }
            }
            col2im(memberScratch!, batch: call.batch, images: images, into: dx,
                   overwriting: !call.accumulating && tapsAreFlatShifts)
        }
        memberHasChunks[member] = !first
        if directInputGradient, let dx = call.inputGradient {
            direct!.inputGradient(outputGradient: dy, batch: call.batch, inputGradient: dx, accumulating: call.accumulating,
                                  images: team.share(of: call.batch, member: member))
        }
    }

    private func check(batch: Int, scratch: UnsafeMutableBufferPointer<Float>) {
        precondition(batch > 0 && batch <= maxBatch, "\(geometry): batch \(batch), sized for 1...\(maxBatch)")
        precondition(scratch.count >= scratchCount,
                     "\(geometry) needs \(scratchCount) floats of scratch (\(team.count) × \(imagesPerChunk) images' columns), "
                         + "got \(scratch.count)")
    }

    /// Images per chunk at `batch`: at most `imagesPerChunk`, and few enough that every member
    /// gets a chunk when the batch allows.
    private func chunkSize(batch: Int) -> Int {
        min(imagesPerChunk, (batch + team.count - 1) / team.count)
    }

    /// `member`'s share of the batch, in chunks: equal shares (at most one image apart) keep the
    /// members busy for equally long, which every `count`-th chunk would not when the chunk count
    /// is not a multiple of the team's.
    private func memberChunks(batch: Int, chunkImages: Int, member: Int) -> ImageChunks {
        ImageChunks(images: team.share(of: batch, member: member), size: chunkImages)
    }

    /// Whether each tap is a flat shift of the whole chunk: stride 1 with the output the size of
    /// the input ("same" padding: every 3x3 convolution of a WRN's stride-1 layers). Then output
    /// (n, oy, ox) of tap (ky, kx) is input (n, oy + ky − p, ox + kx − p), which in the flat
    /// `(n, y, x)` order is one fixed offset `(ky − p)·W + (kx − p)`: one long copy (or add) per
    /// im2col row, after which only the taps on padding, which the shift fills from a neighbouring
    /// row or image, need fixing.
    private var tapsAreFlatShifts: Bool {
        let g = geometry
        return g.stride == 1 && g.outputWidth == g.inputWidth && g.outputHeight == g.inputHeight
    }

    /// Fills `columns[C·k·k, images.count·Ho·Wo]` for `images` of a `batch`-image input, writing 0
    /// where a tap reads padding.
    func im2col(_ input: UnsafePointer<Float>, batch: Int, images: Range<Int>, into columns: UnsafeMutablePointer<Float>) {
        for channel in 0..<geometry.inChannels {
            im2col(channel: channel, input, batch: batch, images: images, into: columns)
        }
    }

    /// `inputGradient[c, n, iy, ix] += columns[(c, ky, kx), (n, oy, ox)]` over every tap that read a
    /// real input value, for `images`. Clobbers `columns` (zeroes its taps on padding).
    /// `overwriting` (flat-shift geometries only) replaces what the gradient held instead.
    func col2im(_ columns: UnsafeMutablePointer<Float>, batch: Int, images: Range<Int>, into inputGradient: UnsafeMutablePointer<Float>,
                overwriting: Bool = false) {
        precondition(!overwriting || tapsAreFlatShifts, "\(geometry): col2im can only overwrite when every tap is a flat shift")
        for channel in 0..<geometry.inChannels {
            col2im(channel: channel, columns, batch: batch, images: images, into: inputGradient, overwriting: overwriting)
        }
    }

    /// The k·k im2col rows of one input channel.
    private func im2col(channel: Int, _ input: UnsafePointer<Float>, batch: Int, images: Range<Int>,
                        into columns: UnsafeMutablePointer<Float>) {
        let g = geometry
        let k = g.kernelSize, s = g.stride, p = g.padding
        let height = g.inputHeight, width = g.inputWidth, outHeight = g.outputHeight, outWidth = g.outputWidth
        let inPlane = height * width, outPlane = outHeight * outWidth
        let columnCount = images.count * outPlane
        let channelInput = input + (channel * batch + images.lowerBound) * inPlane
        for ky in 0..<k {
            let rows = g.validOutputRange(tap: ky, inputExtent: height, outputExtent: outHeight)
            for kx in 0..<k {
                let valid = g.validOutputRange(tap: kx, inputExtent: width, outputExtent: outWidth)
                let row = columns + ((channel * k + ky) * k + kx) * columnCount
                if tapsAreFlatShifts {
                    let shift = (ky - p) * width + (kx - p)
                    // Every valid tap reads inside its own image, so within the chunk: the
                    // positions this range leaves out are all taps on padding.
                    let first = max(0, -shift), end = min(columnCount, columnCount - shift)
                    if end > first { (row + first).update(from: channelInput + first + shift, count: end - first) }
                    zeroPaddingTaps(row, imageCount: images.count, rows: rows, columns: valid)
                    continue
                }
                for image in 0..<images.count {
                    let source = channelInput + image * inPlane
                    let target = row + image * outPlane
                    target.update(repeating: 0, count: rows.lowerBound * outWidth)
                    (target + rows.upperBound * outWidth).update(repeating: 0, count: (outHeight - rows.upperBound) * outWidth)
                    let firstInputColumn = valid.lowerBound * s - p + kx
                    for oy in rows {
                        let line = target + oy * outWidth
                        let inputLine = source + (oy * s - p + ky) * width + firstInputColumn
                        line.update(repeating: 0, count: valid.lowerBound)
                        let taps = line + valid.lowerBound
                        if s == 2 {
                            gatherEvenColumns(inputLine, count: valid.count, before: firstInputColumn,
                                              after: width - firstInputColumn, into: taps)
                        } else {
                            for j in 0..<valid.count { taps[j] = inputLine[j * s] }
                        }
                        (line + valid.upperBound).update(repeating: 0, count: outWidth - valid.upperBound)
                    }
                }
            }
        }
    }

    /// The k·k im2col rows of one input channel added into its gradient. The 9 passes over one
    /// channel's gradient run back to back, so it stays in cache.
    private func col2im(channel: Int, _ columns: UnsafeMutablePointer<Float>, batch: Int, images: Range<Int>,
                        into inputGradient: UnsafeMutablePointer<Float>, overwriting: Bool) {
        let g = geometry
        let k = g.kernelSize, s = g.stride, p = g.padding
        let height = g.inputHeight, width = g.inputWidth, outHeight = g.outputHeight, outWidth = g.outputWidth
        let inPlane = height * width, outPlane = outHeight * outWidth
        let columnCount = images.count * outPlane
        let channelGradient = inputGradient + (channel * batch + images.lowerBound) * inPlane
        // The centre tap (shift 0, no padding) first, as a copy: every later tap adds onto it.
        let centre = (channel * k + p) * k + p
        if overwriting { channelGradient.update(from: columns + centre * columnCount, count: columnCount) }
        for ky in 0..<k {
            let rows = g.validOutputRange(tap: ky, inputExtent: height, outputExtent: outHeight)
            guard !rows.isEmpty else { continue }
            for kx in 0..<k where !(overwriting && ky == p && kx == p) {
                let valid = g.validOutputRange(tap: kx, inputExtent: width, outputExtent: outWidth)
                let row = columns + ((channel * k + ky) * k + kx) * columnCount
                if tapsAreFlatShifts {
                    // The mirror of im2col's shifted copy: zero the taps on padding (they have no
                    // input to go to), then one flat add, where those zeros leave the values they
                    // land on unchanged.
                    zeroPaddingTaps(row, imageCount: images.count, rows: rows, columns: valid)
                    let shift = (ky - p) * width + (kx - p)
                    let first = max(0, -shift), end = min(columnCount, columnCount - shift)
                    if end > first { addInPlace(row + first, to: channelGradient + first + shift, count: end - first) }
                    continue
                }
                let firstInputColumn = valid.lowerBound * s - p + kx
                for image in 0..<images.count {
                    let target = channelGradient + image * inPlane
                    let source = row + image * outPlane
                    for oy in rows {
                        let taps = source + oy * outWidth + valid.lowerBound
                        let inputLine = target + (oy * s - p + ky) * width + firstInputColumn
                        // Scalar: Swift's SIMD has no interleaving store, and building one lane by
                        // lane was 15× slower than this loop.
                        for j in 0..<valid.count { inputLine[j * s] += taps[j] }
                    }
                }
            }
        }
    }

    /// Zeroes, in one im2col row of `imageCount` images, the outputs outside `rows` × `columns`:
    /// the taps that read padding.
    private func zeroPaddingTaps(_ row: UnsafeMutablePointer<Float>, imageCount: Int, rows: Range<Int>, columns: Range<Int>) {
        let outHeight = geometry.outputHeight, outWidth = geometry.outputWidth
        let trailing = outWidth - columns.upperBound
        for image in 0..<imageCount {
            let target = row + image * outHeight * outWidth
            target.update(repeating: 0, count: rows.lowerBound * outWidth)
            (target + rows.upperBound * outWidth).update(repeating: 0, count: (outHeight - rows.upperBound) * outWidth)
            guard columns.lowerBound > 0 || trailing > 0 else { continue }
            for oy in rows {
                let line = target + oy * outWidth
                for x in 0..<columns.lowerBound { line[x] = 0 }
                for x in columns.upperBound..<outWidth { line[x] = 0 }
            }
        }
    }
}

/// `images` cut into consecutive ranges of `size` images (the last one shorter).
struct ImageChunks: Sequence, IteratorProtocol {
    let end: Int
    let size: Int
    private var start: Int

    init(images: Range<Int>, size: Int) {
        end = images.upperBound
        self.size = size
        start = images.lowerBound
    }

    mutating func next() -> Range<Int>? {
        guard start < end else { return nil }
        let chunk = start..<Swift.min(start + size, end)
        start += size
        return chunk
    }
}

/// `taps[j] = line[2j]` for j in 0..<count: stride-2 taps read every other input column. Vector
/// loads of 2·16 columns (then 2·8) keep their even lanes; a window may start one column early
/// and keep its odd lanes when the row's end leaves no room for the last, unused odd column.
/// `before` and `after` count the input row's columns before `line` and from `line` to the row's
/// end: a window never leaves the row.
@inline(__always) private func gatherEvenColumns(_ line: UnsafePointer<Float>, count: Int, before: Int, after: Int,
                                                 into taps: UnsafeMutablePointer<Float>) {
    var j = 0
    while j + 16 <= count {
        if 2 * j + 32 <= after {
            storeVector(UnsafeRawPointer(line + 2 * j).loadUnaligned(as: SIMD32<Float>.self).evenHalf, taps, j)
        } else if before + 2 * j >= 1 && 2 * j + 31 <= after {
            storeVector(UnsafeRawPointer(line + 2 * j - 1).loadUnaligned(as: SIMD32<Float>.self).oddHalf, taps, j)
        } else {
            break
        }
        j += 16
    }
    while j + 8 <= count {
        let halves: SIMD8<Float>
        if 2 * j + 16 <= after {
            halves = UnsafeRawPointer(line + 2 * j).loadUnaligned(as: SIMD16<Float>.self).evenHalf
        } else if before + 2 * j >= 1 && 2 * j + 15 <= after {
            halves = UnsafeRawPointer(line + 2 * j - 1).loadUnaligned(as: SIMD16<Float>.self).oddHalf
        } else {
            break
        }
        UnsafeMutableRawPointer(taps + j).storeBytes(of: halves, as: SIMD8<Float>.self)
        j += 8
    }
    while j < count {
        taps[j] = line[2 * j]
        j += 1
    }
}
