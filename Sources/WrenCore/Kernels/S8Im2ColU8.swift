/// Gathers the receptive fields of `pixelCount` consecutive output pixels of one NHWC int8 image
/// into rows of `paddedDepth` bytes, as unsigned bytes `x + 128` (the u8 operand of `vpdpbusd`).
/// Taps outside the image hold the input zero point (`zx + 128`), so they contribute exactly
/// nothing once the kernel subtracts `(zx + 128) · Σw`; depth padding holds 0 and meets zero weights.
/// Rows past the last output pixel of the image are filled with the zero point too. The walk is
/// `im2colWalk`'s; ISA modules copy and fill with wider vectors.
@inlinable
public func s8Im2ColU8(
    _ p: Conv2DParameters, image: UnsafePointer<Int8>, firstPixel: Int, pixelCount: Int, rows: Int,
    paddedDepth: Int, into destination: UnsafeMutablePointer<UInt8>
) {
    let zero = UInt8(truncatingIfNeeded: p.inputZeroPoint &+ 128)
    let source = UnsafeRawPointer(image)
    im2colWalk(
        p, firstPixel: firstPixel, pixelCount: pixelCount, rows: rows, paddedDepth: paddedDepth,
        copy: { from, to, count in
            // x + 128 as a byte is x's bit pattern with the top bit flipped.
            var i = 0
            while i &+ 8 <= count {
                let word = source.loadUnaligned(fromByteOffset: from &+ i, as: UInt64.self) ^ 0x8080_8080_8080_8080
                UnsafeMutableRawPointer(destination + (to &+ i)).storeBytes(of: word, as: UInt64.self)
                i &+= 8
            }
            while i < count {
                destination[to &+ i] = source.load(fromByteOffset: from &+ i, as: UInt8.self) ^ 0x80
                i &+= 1
            }
        },
        fill: { to, count, zeroPoint in (destination + to).initialize(repeating: zeroPoint ? zero : 0, count: count) })
}
