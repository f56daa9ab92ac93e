/// Portable Swift-SIMD convolution: im2col 4 pixels at a time, then for each block of 16 output
/// channels multiply-accumulate the packed 16×4 weight cells against each pixel's 4 input bytes
/// broadcast over 64 lanes, and reduce the lanes in fours at the end. Builds for every target,
/// Embedded Swift included; bit-exact with `s8Conv2DReference`.
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
            let cells = UnsafeRawPointer(tile.weights + block * groups * 64)
            var acc0 = SIMD64<Int32>(repeating: 0), acc1 = acc0, acc2 = acc0, acc3 = acc0
            let a = UnsafeRawPointer(rows)
            for g in 0..<groups {
                let w = SIMD64<Int32>(truncatingIfNeeded: cells.loadUnaligned(fromByteOffset: g * 64, as: SIMD64<Int8>.self))
                acc0 &+= w &* broadcast4(a.loadUnaligned(fromByteOffset: g * 4, as: UInt32.self))
                acc1 &+= w &* broadcast4(a.loadUnaligned(fromByteOffset: kp + g * 4, as: UInt32.self))
                acc2 &+= w &* broadcast4(a.loadUnaligned(fromByteOffset: 2 * kp + g * 4, as: UInt32.self))
                acc3 &+= w &* broadcast4(a.loadUnaligned(fromByteOffset: 3 * kp + g * 4, as: UInt32.self))
            }
            tile.store(pixel: start, block: block, accumulator: reduceFours(acc0))
            if count > 1 { tile.store(pixel: start + 1, block: block, accumulator: reduceFours(acc1)) }
            if count > 2 { tile.store(pixel: start + 2, block: block, accumulator: reduceFours(acc2)) }
            if count > 3 { tile.store(pixel: start + 3, block: block, accumulator: reduceFours(acc3)) }
        }
        start += rowsPerStep
    }
}

/// Four unsigned bytes repeated over 64 lanes: lane 4c + j holds byte j.
@inlinable @inline(__always)
func broadcast4(_ word: UInt32) -> SIMD64<Int32> {
    let bytes = SIMD4<Int32>(Int32(word & 0xFF), Int32((word >> 8) & 0xFF), Int32((word >> 16) & 0xFF), Int32(word >> 24))
    let eight = SIMD8<Int32>(lowHalf: bytes, highHalf: bytes)
    let sixteen = SIMD16<Int32>(lowHalf: eight, highHalf: eight)
    let thirtyTwo = SIMD32<Int32>(lowHalf: sixteen, highHalf: sixteen)
    return SIMD64<Int32>(lowHalf: thirtyTwo, highHalf: thirtyTwo)
}

/// Sums lanes 4c…4c+3 into lane c.
@inlinable @inline(__always)
func reduceFours(_ v: SIMD64<Int32>) -> SIMD16<Int32> {
    var result = SIMD16<Int32>(repeating: 0)
    for c in 0..<16 { result[c] = v[4 * c] &+ v[4 * c + 1] &+ v[4 * c + 2] &+ v[4 * c + 3] }
    return result
}
