/// Gathers the receptive fields of `pixelCount` consecutive output pixels of one NHWC int8 image
/// into rows of `paddedDepth` bytes, as unsigned bytes `x + 128` (the u8 operand of `vpdpbusd`).
/// Taps outside the image hold the input zero point (`zx + 128`), so they contribute exactly
/// nothing once the kernel subtracts `(zx + 128) · Σw`; depth padding holds 0 and meets zero weights.
/// Rows past the last output pixel of the image are filled with the zero point too.
@inlinable
public func s8Im2ColU8(
    _ p: Conv2DParameters, image: UnsafePointer<Int8>, firstPixel: Int, pixelCount: Int, rows: Int,
    paddedDepth: Int, into destination: UnsafeMutablePointer<UInt8>
) {
    let zero = UInt8(truncatingIfNeeded: p.inputZeroPoint &+ 128)
    let channels = p.inChannels
    let depth = p.depth
    for row in 0..<rows {
        let out = destination + row * paddedDepth
        if depth < paddedDepth { (out + depth).initialize(repeating: 0, count: paddedDepth - depth) }
        guard row < pixelCount else {
            out.initialize(repeating: zero, count: depth)
            continue
        }
        let pixel = firstPixel + row
        let oy = pixel / p.outWidth
        let ox = pixel - oy * p.outWidth
        var k = 0
        for ky in 0..<p.kernelSize {
            let iy = oy * p.stride + ky - p.padding
            for kx in 0..<p.kernelSize {
                let ix = ox * p.stride + kx - p.padding
                if iy >= 0 && iy < p.inHeight && ix >= 0 && ix < p.inWidth {
                    let source = UnsafeRawPointer(image + (iy * p.inWidth + ix) * channels).assumingMemoryBound(to: UInt8.self)
                    // x + 128 as a byte is x's bit pattern with the top bit flipped.
                    var i = 0
                    while i + 8 <= channels {
                        let word = UnsafeRawPointer(source + i).loadUnaligned(as: UInt64.self) ^ 0x8080_8080_8080_8080
                        UnsafeMutableRawPointer(out + k + i).storeBytes(of: word, as: UInt64.self)
                        i += 8
                    }
                    while i < channels {
                        out[k + i] = source[i] ^ 0x80
                        i += 1
                    }
                } else {
                    (out + k).initialize(repeating: zero, count: channels)
                }
                k += channels
            }
        }
    }
}
