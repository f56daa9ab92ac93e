import CBLAS

/// A 2-D convolution over a CNHW batch, forward and backward, as im2col + one `cblas_sgemm` over
/// the whole batch:
///
///     output[O, N·Ho·Wo] = weight[O, C·k·k] × columns[C·k·k, N·Ho·Wo]
///
/// with im2col rows `(c, ky, kx)` and columns `(n, oy, ox)`; a 1x1 stride-1 unpadded convolution
/// uses its input as the column matrix. Backward:
///
///     dWeight  = dOutput × columnsᵀ            (overwritten every call)
///     dBias[o] = Σ dOutput[o, ·]               (overwritten every call)
///     dInput   = col2im(weightᵀ × dOutput)     (overwritten or accumulated; skipped when not asked for)
///
/// The layer owns its parameters and their gradients. The caller owns the activations (input,
/// output, their gradients) and one scratch buffer of at least `scratchCount` floats, which can be
/// shared by every convolution of a network because a layer only uses it during one call.
/// Sized for `maxBatch` images at setup; any batch up to it runs without allocating.
public final class ConvolutionLayer {
    public let geometry: ConvolutionGeometry
    public let maxBatch: Int
    /// `[out, in, k, k]`, PyTorch's layout. Zero until the caller initializes or loads it.
    public let weight: TrainingBuffer
    public let weightGradient: TrainingBuffer
    public let bias: TrainingBuffer?
    public let biasGradient: TrainingBuffer?

    public init(_ geometry: ConvolutionGeometry, maxBatch: Int) throws(TrainingError) {
        guard maxBatch > 0 else { throw .invalidConfiguration("\(geometry): batch size \(maxBatch)") }
        // cblas takes Int32 extents; the widest is the GEMM's column count N·Ho·Wo.
        let columns = maxBatch.multipliedReportingOverflow(by: geometry.outputHeight * geometry.outputWidth)
        guard !columns.overflow, columns.partialValue <= Int(Int32.max),
              geometry.reduction <= Int(Int32.max),
              !geometry.reduction.multipliedReportingOverflow(by: columns.partialValue).overflow else {
            throw .invalidConfiguration("\(geometry) at batch \(maxBatch): the GEMM is larger than BLAS's 32-bit extents")
        }
        self.geometry = geometry
        self.maxBatch = maxBatch
        weight = TrainingBuffer(count: geometry.weightCount)
        weightGradient = TrainingBuffer(count: geometry.weightCount)
        bias = geometry.hasBias ? TrainingBuffer(count: geometry.outChannels) : nil
        biasGradient = geometry.hasBias ? TrainingBuffer(count: geometry.outChannels) : nil
    }

    /// Floats of scratch `forward` and `backward` need at `maxBatch`.
    public var scratchCount: Int { geometry.scratchCount(batch: maxBatch) }

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
        checkBatch(batch)
        precondition(input.count >= inShape.count && output.count >= outShape.count,
                     "\(g) forward at \(inShape): input holds \(input.count), output \(output.count) values")
        precondition(scratch.count >= g.scratchCount(batch: batch),
                     "\(g) at batch \(batch) needs \(g.scratchCount(batch: batch)) floats of scratch, got \(scratch.count)")
        let columnCount = outShape.perChannel
        let columns: UnsafePointer<Float>
        if g.readsInputAsColumns {
            columns = input.baseAddress!
        } else {
            im2col(input.baseAddress!, batch: batch, into: scratch.baseAddress!)
            columns = UnsafePointer(scratch.baseAddress!)
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                    Int32(g.outChannels), Int32(columnCount), Int32(g.reduction),
                    1, weight.values.baseAddress!, Int32(g.reduction),
                    columns, Int32(columnCount),
                    accumulating ? 1 : 0, output.baseAddress!, Int32(columnCount))
        if let bias {
            for channel in 0..<g.outChannels {
                addScalar(bias.values[channel], to: output.baseAddress! + channel * columnCount, count: columnCount)
            }
        }
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
        checkBatch(batch)
        precondition(input.count >= inShape.count && outputGradient.count >= outShape.count
                         && (inputGradient?.count ?? inShape.count) >= inShape.count,
                     "\(g) backward at \(inShape): input \(input.count), output gradient \(outputGradient.count), "
                         + "input gradient \(inputGradient?.count ?? 0) values")
        precondition(scratch.count >= g.scratchCount(batch: batch),
                     "\(g) at batch \(batch) needs \(g.scratchCount(batch: batch)) floats of scratch, got \(scratch.count)")
        let columnCount = outShape.perChannel
        let dOutput = outputGradient.baseAddress!

        if let biasGradient {
            for channel in 0..<g.outChannels {
                biasGradient.values[channel] = Float(doubleSum(dOutput + channel * columnCount, count: columnCount))
            }
        }

        // The columns are rebuilt rather than kept from forward: one im2col pass costs far less
        // than holding every layer's column matrix (9× its input) for the whole step.
        let columns: UnsafePointer<Float>
        if g.readsInputAsColumns {
            columns = input.baseAddress!
        } else {
            im2col(input.baseAddress!, batch: batch, into: scratch.baseAddress!)
            columns = UnsafePointer(scratch.baseAddress!)
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    Int32(g.outChannels), Int32(g.reduction), Int32(columnCount),
                    1, dOutput, Int32(columnCount),
                    columns, Int32(columnCount),
                    0, weightGradient.values.baseAddress!, Int32(g.reduction))

        guard let inputGradient else { return }
        if g.readsInputAsColumns {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                        Int32(g.inChannels), Int32(columnCount), Int32(g.outChannels),
                        1, weight.values.baseAddress!, Int32(g.reduction),
                        dOutput, Int32(columnCount),
                        accumulatingInputGradient ? 1 : 0, inputGradient.baseAddress!, Int32(columnCount))
            return
        }
        // The column gradients overwrite the columns, which dWeight no longer needs.
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                    Int32(g.reduction), Int32(columnCount), Int32(g.outChannels),
                    1, weight.values.baseAddress!, Int32(g.reduction),
                    dOutput, Int32(columnCount),
                    0, scratch.baseAddress!, Int32(columnCount))
        if !accumulatingInputGradient { inputGradient.baseAddress!.update(repeating: 0, count: inShape.count) }
        col2im(scratch.baseAddress!, batch: batch, into: inputGradient.baseAddress!)
    }

    private func checkBatch(_ batch: Int) {
        precondition(batch > 0 && batch <= maxBatch, "\(geometry): batch \(batch), sized for 1...\(maxBatch)")
    }

    /// Whether tap offsets only shift whole rows: stride 1 with the output as wide as the input
    /// ("same" padding, every 3x3 convolution of a WRN's stride-1 layers). Then the valid part of
    /// one output image for tap (ky, kx) is one contiguous shifted copy of the input image, and only
    /// the padded border columns need fixing.
    private var rowsAreShifts: Bool {
        geometry.stride == 1 && geometry.outputWidth == geometry.inputWidth && geometry.padding < geometry.inputWidth
    }

    /// Fills `columns[C·k·k, N·Ho·Wo]`, writing 0 where a tap reads padding.
    func im2col(_ input: UnsafePointer<Float>, batch: Int, into columns: UnsafeMutablePointer<Float>) {
        let g = geometry
        let k = g.kernelSize, s = g.stride, p = g.padding
        let height = g.inputHeight, width = g.inputWidth, outHeight = g.outputHeight, outWidth = g.outputWidth
        let inPlane = height * width, outPlane = outHeight * outWidth
        let columnCount = batch * outPlane
        let shifts = rowsAreShifts
        for channel in 0..<g.inChannels {
            let channelInput = input + channel * batch * inPlane
            for ky in 0..<k {
                let rows = g.validOutputRange(tap: ky, inputExtent: height, outputExtent: outHeight)
                for kx in 0..<k {
                    let valid = g.validOutputRange(tap: kx, inputExtent: width, outputExtent: outWidth)
                    let row = columns + ((channel * k + ky) * k + kx) * columnCount
                    for image in 0..<batch {
                        let source = channelInput + image * inPlane
                        let target = row + image * outPlane
                        target.update(repeating: 0, count: rows.lowerBound * outWidth)
                        (target + rows.upperBound * outWidth).update(repeating: 0, count: (outHeight - rows.upperBound) * outWidth)
                        guard !rows.isEmpty else { continue }
                        let firstInputRow = rows.lowerBound * s - p + ky
                        if shifts {
                            // Output (oy, ox) = input (oy + ky − p, ox + kx − p): over whole rows, one
                            // copy at a flat offset; the values it carries into the border columns
                            // from the neighbouring row are zeroed below.
                            let shift = kx - p
                            let span = rows.count * width - abs(shift)
                            let from = source + firstInputRow * width + max(shift, 0)
                            let to = target + rows.lowerBound * outWidth + max(-shift, 0)
                            to.update(from: from, count: span)
                            for oy in rows {
                                let line = target + oy * outWidth
                                line.update(repeating: 0, count: valid.lowerBound)
                                (line + valid.upperBound).update(repeating: 0, count: outWidth - valid.upperBound)
                            }
                        } else {
                            let firstInputColumn = valid.lowerBound * s - p + kx
                            for oy in rows {
                                let line = target + oy * outWidth
                                let inputLine = source + (oy * s - p + ky) * width + firstInputColumn
                                line.update(repeating: 0, count: valid.lowerBound)
                                let taps = line + valid.lowerBound
                                for j in 0..<valid.count { taps[j] = inputLine[j * s] }
                                (line + valid.upperBound).update(repeating: 0, count: outWidth - valid.upperBound)
                            }
                        }
                    }
                }
            }
        }
    }

    /// `inputGradient[c, n, iy, ix] += columns[(c, ky, kx), (n, oy, ox)]` over every tap that read a
    /// real input value. Clobbers the padded entries of `columns` (zeroes them) on the row-shift path.
    /// Channel by channel, so the 9 passes over one channel's gradient stay in cache.
    func col2im(_ columns: UnsafeMutablePointer<Float>, batch: Int, into inputGradient: UnsafeMutablePointer<Float>) {
        let g = geometry
        let k = g.kernelSize, s = g.stride, p = g.padding
        let height = g.inputHeight, width = g.inputWidth, outHeight = g.outputHeight, outWidth = g.outputWidth
        let inPlane = height * width, outPlane = outHeight * outWidth
        let columnCount = batch * outPlane
        let shifts = rowsAreShifts
        for channel in 0..<g.inChannels {
            let channelGradient = inputGradient + channel * batch * inPlane
            for ky in 0..<k {
                let rows = g.validOutputRange(tap: ky, inputExtent: height, outputExtent: outHeight)
                guard !rows.isEmpty else { continue }
                let firstInputRow = rows.lowerBound * s - p + ky
                for kx in 0..<k {
                    let valid = g.validOutputRange(tap: kx, inputExtent: width, outputExtent: outWidth)
                    let row = columns + ((channel * k + ky) * k + kx) * columnCount
                    for image in 0..<batch {
                        let target = channelGradient + image * inPlane
                        let source = row + image * outPlane
                        if shifts {
                            // The mirror of im2col's shifted copy: zero the border entries (taps on
                            // padding, which have no input to go to), then one flat add; adding the
                            // zeros leaves the neighbouring row's values unchanged.
                            for oy in rows {
                                let line = source + oy * outWidth
                                line.update(repeating: 0, count: valid.lowerBound)
                                (line + valid.upperBound).update(repeating: 0, count: outWidth - valid.upperBound)
                            }
                            let shift = kx - p
                            let span = rows.count * width - abs(shift)
                            addInPlace(source + rows.lowerBound * outWidth + max(-shift, 0),
                                       to: target + firstInputRow * width + max(shift, 0), count: span)
                        } else {
                            let firstInputColumn = valid.lowerBound * s - p + kx
                            for oy in rows {
                                let taps = source + oy * outWidth + valid.lowerBound
                                let inputLine = target + (oy * s - p + ky) * width + firstInputColumn
                                for j in 0..<valid.count { inputLine[j * s] += taps[j] }
                            }
                        }
                    }
                }
            }
        }
    }
}
