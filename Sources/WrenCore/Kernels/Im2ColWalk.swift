/// The walk every im2col shares: which spans of its rows are input taps, zero-point taps (outside
/// the image) or depth padding, for `rows` rows of `paddedDepth` elements from output pixel
/// `firstPixel` on (rows past `pixelCount` are all zero-point taps). It speaks in element offsets
/// only; each im2col supplies how it copies and fills, in its own element type and ISA:
/// - `copy(source, destination, count)`: `count` input elements from offset `source` of the NHWC
///   image (`(iy·W + ix)·C`) to offset `destination` of the rows (`row·paddedDepth + k`);
/// - `fill(destination, count, zeroPoint)`: zero-point taps when `zeroPoint`, else depth padding.
/// The kx taps of an interior kernel row are adjacent input pixels, so they are one copy of
/// kernelSize·C elements; only border taps go one by one.
@inlinable @inline(__always)
public func im2colWalk(
    _ p: Conv2DParameters, firstPixel: Int, pixelCount: Int, rows: Int, paddedDepth: Int,
    copy: (_ source: Int, _ destination: Int, _ count: Int) -> Void,
    fill: (_ destination: Int, _ count: Int, _ zeroPoint: Bool) -> Void
) {
    let channels = p.inChannels, size = p.kernelSize
    let run = size &* channels
    let depth = p.depth
    var oy = firstPixel / p.outWidth
    var ox = firstPixel &- oy &* p.outWidth
    for row in 0..<rows {
        let out = row &* paddedDepth
        if depth < paddedDepth { fill(out &+ depth, paddedDepth &- depth, false) }
        guard row < pixelCount else {
            fill(out, depth, true)
            continue
        }
        let ix0 = ox &* p.stride &- p.padding
        let interior = ix0 >= 0 && ix0 &+ size <= p.inWidth
        var k = 0
        for ky in 0..<size {
            let iy = oy &* p.stride &+ ky &- p.padding
            if iy < 0 || iy >= p.inHeight {
                fill(out &+ k, run, true)
            } else if interior {
                copy((iy &* p.inWidth &+ ix0) &* channels, out &+ k, run)
            } else {
                for kx in 0..<size {
                    let ix = ix0 &+ kx
                    if ix >= 0 && ix < p.inWidth {
                        copy((iy &* p.inWidth &+ ix) &* channels, out &+ k &+ kx &* channels, channels)
                    } else {
                        fill(out &+ k &+ kx &* channels, channels, true)
                    }
                }
            }
            k &+= run
        }
        ox &+= 1
        if ox == p.outWidth {
            ox = 0
            oy &+= 1
        }
    }
}
