/// Portable convolution: im2col 4 pixels at a time as u8 rows, then for each block of 16 output
/// channels a plain dot product per channel over the packed 4-byte groups. Scalar Swift that
/// builds for every target, Embedded Swift included (the compiler vectorizes what the target
/// allows); bit-exact with `s8Conv2DReference`. ISA modules supply the fast paths.
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
            let cells = tile.weights + block * groups * 64
            let lanes = min(16, p.outChannels - block * 16)
            for row in 0..<count {
                let a = rows + row * kp
                var accumulator = SIMD16<Int32>(repeating: 0)
                for lane in 0..<lanes {
                    var w = cells + lane * 4
                    var sum: Int32 = 0
                    for g in 0..<groups {
                        let x = a + 4 * g
                        sum &+= Int32(w[0]) &* Int32(x[0]) &+ Int32(w[1]) &* Int32(x[1])
                            &+ Int32(w[2]) &* Int32(x[2]) &+ Int32(w[3]) &* Int32(x[3])
                        w += 64
                    }
                    accumulator[lane] = sum
                }
                tile.store(pixel: start + row, block: block, accumulator: accumulator)
            }
        }
        start += rowsPerStep
    }
}
