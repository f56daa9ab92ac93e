/// How `wren train` split DATA_DIR, kept in the checkpoint's metadata so that the commands after it
/// use the same images: `wren convert --calibration DATA_DIR` calibrates on training images only,
/// and `wren validate --data DATA_DIR` tests on the held-out ones, without a split file.
///
/// The split is a function of the usable photos (in folder order), the fraction and the seed
/// (`PhotoSplit.stratified`), so those three rebuild it. `imageCount` guards against a folder
/// that changed since training: a different number of usable photos rebuilds nothing.
public struct SplitRecord: Sendable, Equatable {
    /// The training fraction per class; 1 when every photo of DATA_DIR trained (a `--val` run).
    public var fraction: Double
    public var seed: UInt64
    /// Usable (decoded) photos the split was drawn over.
    public var imageCount: Int

    public static let fractionKey = "wren.split_fraction"
    public static let seedKey = "wren.split_seed"
    public static let imageCountKey = "wren.split_images"

    public init(fraction: Double, seed: UInt64, imageCount: Int) {
        self.fraction = fraction
        self.seed = seed
        self.imageCount = imageCount
    }

    /// The record in `metadata`, or nil when it has none or a malformed one.
    public init?(metadata: [String: String]) {
        guard let fraction = metadata[Self.fractionKey].flatMap(Double.init), fraction > 0, fraction <= 1,
              let seed = metadata[Self.seedKey].flatMap({ UInt64($0) }),
              let imageCount = metadata[Self.imageCountKey].flatMap({ Int($0) }), imageCount > 0 else { return nil }
        self.init(fraction: fraction, seed: seed, imageCount: imageCount)
    }

    public var metadata: [String: String] {
        [Self.fractionKey: "\(fraction)", Self.seedKey: "\(seed)", Self.imageCountKey: "\(imageCount)"]
    }

    /// The split of the usable photos `cache` holds, or nil when their number is not the one
    /// recorded (the folder changed since training).
    public func rebuild(over cache: PhotoCache, classes: Int) -> PhotoSplit? {
        guard cache.count == imageCount else { return nil }
        return PhotoSplit.stratified(classOf: cache.labels, classes: classes, trainFraction: fraction, seed: seed)
    }

    /// "split 0.7 per class, seed 0", as `wren train` prints it.
    public var summary: String {
        fraction >= 1 ? "all \(imageCount) images trained" : "split \(fraction) per class, seed \(seed)"
    }
}

extension PhotoSplit {
    /// Up to `count` of `indices`, drawn without replacement by a Fisher–Yates pass over SplitMix64
    /// seeded with `seed`, returned in ascending order; all of them when `count` is not smaller.
    public static func sample(_ indices: [Int], count: Int, seed: UInt64) -> [Int] {
        guard count < indices.count else { return indices }
        var pool = indices
        var generator = SplitMix64(seed: seed)
        for i in 0..<count {
            pool.swapAt(i, i + Int(generator.next() % UInt64(pool.count - i)))
        }
        return pool[..<count].sorted()
    }
}
