import CBLAS
import CWrenCPU
import WrenNetwork
#if arch(x86_64)
import WrenTrainKernelsX86
#endif

/// Convolution as im2col + one `cblas_sgemm` per image:
/// `output[O, Ho*Wo] = weight[O, I*kh*kw] × columns[I*kh*kw, Ho*Wo]`, with zero padding.
/// The 3x3, stride-1, padding-1 convolutions (nearly all of a WRN's arithmetic) run instead on the
/// training's direct AVX-512 kernel (WrenTrainKernelsX86) where the CPU has it and the shape fits:
/// also one image at a time, so a result still never depends on the batch it runs in.
extension Conv2D {
    /// Whether this CPU runs the direct kernel (x86-64-v4 + AVX-512 VNNI, what its module is compiled for).
    static let directKernelRuns: Bool = {
        #if arch(x86_64)
        return wren_cpu_has_avx512vnni() != 0
        #else
        return false
        #endif
    }()

    /// Convolves every image of `input` into `output`.
    /// With `accumulating` the result is added to what `output` already holds (it must have the output
    /// shape): that is how a residual sum is formed without a separate pass.
    /// `columns` is scratch space, grown as needed and reused across calls.
    /// Shapes must already have been checked (`WideResNet.checkStructure`); this runs blind.
    func apply(to input: FeatureMap, into output: inout FeatureMap, columns: inout [Float], accumulating: Bool = false) {
        let inShape = input.shape
        precondition(inShape.channels == inChannels, "conv expects \(inChannels) input channels, got \(inShape)")
        let (outHeight, outWidth) = outputSize(height: inShape.height, width: inShape.width)
        let outShape = ActivationShape(batch: inShape.batch, channels: outChannels, height: outHeight, width: outWidth)
        if accumulating {
            precondition(output.shape == outShape, "accumulating conv into \(output.shape), expected \(outShape)")
        } else {
            output.resize(to: outShape)
        }

        #if arch(x86_64)
        if Self.directKernelRuns, kernelSize == 3, stride == 1, padding == 1,
           f32Conv3x3SameSupports(outChannels: outChannels, height: inShape.height, width: inShape.width) {
            applyDirect(to: input, into: &output, accumulating: accumulating)
            return
        }
        #endif

        let reduction = inChannels * kernelSize * kernelSize  // K of the GEMM
        let pixels = outHeight * outWidth                     // N of the GEMM
        // A 1x1, stride-1, unpadded conv reads the image itself as its column matrix.
        let needsColumns = !(kernelSize == 1 && stride == 1 && padding == 0)
        if needsColumns && columns.count < reduction * pixels {
            columns = [Float](repeating: 0, count: reduction * pixels)
        }

        input.values.withUnsafeBufferPointer { source in
            weight.data.withUnsafeBufferPointer { weights in
                columns.withUnsafeMutableBufferPointer { scratch in
                    output.values.withUnsafeMutableBufferPointer { destination in
                        for image in 0..<inShape.batch {
                            let imageIn = UnsafeBufferPointer(rebasing: source[(image * inShape.countPerImage)...].prefix(inShape.countPerImage))
                            let matrix: UnsafePointer<Float>
                            if needsColumns {
                                im2col(imageIn, height: inShape.height, width: inShape.width,
                                       outHeight: outHeight, outWidth: outWidth, into: scratch)
                                matrix = UnsafePointer(scratch.baseAddress!)
                            } else {
                                matrix = imageIn.baseAddress!
                            }
                            let imageOut = destination.baseAddress! + image * outShape.countPerImage
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                        Int32(outChannels), Int32(pixels), Int32(reduction),
                                        1, weights.baseAddress!, Int32(reduction),
                                        matrix, Int32(pixels),
                                        accumulating ? 1 : 0, imageOut, Int32(pixels))
                            if let bias {
                                for channel in 0..<outChannels {
                                    let plane = imageOut + channel * pixels
                                    let value = bias[channel]
                                    for p in 0..<pixels { plane[p] += value }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #if arch(x86_64)
    /// `output (+)= bias + conv(input)` with the direct kernel, image by image (NCHW: channel `c`
    /// of an image starts `c · H·W` after the image).
    private func applyDirect(to input: FeatureMap, into output: inout FeatureMap, accumulating: Bool) {
        let shape = input.shape, plane = shape.height * shape.width
        let masks = f32Conv3x3SameTapMasks(height: shape.height, width: shape.width)
        var packed = [Float](repeating: 0, count: outChannels * inChannels * 9)
        weight.data.withUnsafeBufferPointer { weights in
            packed.withUnsafeMutableBufferPointer {
                f32Conv3x3SamePackWeights(weights.baseAddress!, outChannels: outChannels, inChannels: inChannels, into: $0.baseAddress!)
            }
        }
        input.values.withUnsafeBufferPointer { source in
            output.values.withUnsafeMutableBufferPointer { destination in
                packed.withUnsafeBufferPointer { packed in
                    masks.withUnsafeBufferPointer { masks in
                        (bias ?? []).withUnsafeBufferPointer { biasValues in
                            for image in 0..<shape.batch {
                                f32Conv3x3SameAVX512(
                                    F32Conv3x3SameProblem(
                                        input: source.baseAddress! + image * inChannels * plane, inputChannelStride: plane,
                                        inChannels: inChannels,
                                        output: destination.baseAddress! + image * outChannels * plane, outputChannelStride: plane,
                                        outChannels: outChannels, packedWeights: packed.baseAddress!,
                                        bias: bias == nil ? nil : biasValues.baseAddress, height: shape.height, width: shape.width,
                                        tapMasks: masks.baseAddress!, accumulating: accumulating),
                                    images: 0..<1)
                            }
                        }
                    }
                }
            }
        }
    }
    #endif

    /// Lays out one image's receptive fields as rows `(c, ky, kx)` × columns `(oy, ox)`,
    /// writing 0 where a field reaches into the padding.
    private func im2col(_ image: UnsafeBufferPointer<Float>, height: Int, width: Int,
                        outHeight: Int, outWidth: Int, into columns: UnsafeMutableBufferPointer<Float>) {
        let pixels = outHeight * outWidth
        var row = 0
        for channel in 0..<inChannels {
            let plane = image.baseAddress! + channel * height * width
            for ky in 0..<kernelSize {
                for kx in 0..<kernelSize {
                    let rowStart = columns.baseAddress! + row * pixels
                    for oy in 0..<outHeight {
                        let iy = oy * stride - padding + ky
                        let line = rowStart + oy * outWidth
                        guard iy >= 0 && iy < height else {
                            line.update(repeating: 0, count: outWidth)
                            continue
                        }
                        let inputLine = plane + iy * width
                        // Output columns first..<end read inside the image; the rest are padding.
                        let first = min(outWidth, max(0, (padding - kx + stride - 1) / stride))
                        let lastReach = width - 1 + padding - kx  // ox · stride ≤ lastReach stays inside
                        let end = lastReach < 0 ? first : max(first, min(outWidth, lastReach / stride + 1))
                        line.update(repeating: 0, count: first)
                        if stride == 1 {
                            (line + first).update(from: inputLine + (first - padding + kx), count: end - first)
                        } else {
                            for ox in first..<end { line[ox] = inputLine[ox &* stride &- padding &+ kx] }
                        }
                        (line + end).update(repeating: 0, count: outWidth - end)
                    }
                    row += 1
                }
            }
        }
    }
}
