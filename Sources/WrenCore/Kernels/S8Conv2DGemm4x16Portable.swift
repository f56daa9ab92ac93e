/// Portable convolution in Swift SIMD: im2col 4 pixels at a time as u8 rows, then for each block
/// of 16 output channels and each packed cell (16 channels × 4 depth bytes, read as 16 int32
/// lanes) four multiply-adds of the sign-extended weight bytes by each row's bytes. Builds for
/// every target, Embedded Swift included; bit-exact with `s8Conv2DReference`. ISA modules supply
/// the fast paths.
public func s8Conv2DGemm4x16Portable(_ tile: S8Conv2DTile) {
    let rowsPerStep = 4
    let p = tile.parameters
    let kp = tile.paddedDepth
    let groups = kp / 4
    let blocks = (p.outChannels + 15) / 16
    let rows = tile.scratch.assumingMemoryBound(to: UInt8.self)
    var start = 0
    while start < tile.pixelCount {
        let count = min(rowsPerStep, tile.pixelCount - start)
        s8Im2ColU8(p, image: tile.input, firstPixel: tile.firstPixel + start, pixelCount: count, rows: rowsPerStep,
                   paddedDepth: kp, into: rows)
        for block in 0..<blocks {
            var cell = UnsafeRawPointer(tile.weights + block &* groups &* 64)
            var x = UnsafeRawPointer(rows)
            var s0 = SIMD16<Int32>(), s1 = s0, s2 = s0, s3 = s0
            for _ in 0..<groups {
                // Lane l holds channel l's 4 weights; shifting its byte j to the top and back
                // sign-extends it.
                let w = cell.loadUnaligned(as: SIMD16<Int32>.self)
                let w0 = (w &<< 24) &>> 24, w1 = (w &<< 16) &>> 24, w2 = (w &<< 8) &>> 24, w3 = w &>> 24
                @inline(__always) func accumulate(_ sum: inout SIMD16<Int32>, _ row: Int) {
                    let bytes = x + row &* kp
                    sum &+= w0 &* Int32(bytes.load(fromByteOffset: 0, as: UInt8.self))
                    sum &+= w1 &* Int32(bytes.load(fromByteOffset: 1, as: UInt8.self))
                    sum &+= w2 &* Int32(bytes.load(fromByteOffset: 2, as: UInt8.self))
                    sum &+= w3 &* Int32(bytes.load(fromByteOffset: 3, as: UInt8.self))
                }
                accumulate(&s0, 0)
                accumulate(&s1, 1)
                accumulate(&s2, 2)
                accumulate(&s3, 3)
                cell += 64
                x += 4
            }
            tile.store(pixel: start, block: block, accumulator: s0)
            if count > 1 { tile.store(pixel: start + 1, block: block, accumulator: s1) }
            if count > 2 { tile.store(pixel: start + 2, block: block, accumulator: s2) }
            if count > 3 { tile.store(pixel: start + 3, block: block, accumulator: s3) }
        }
        start += rowsPerStep
    }
}
