import Foundation
import Testing
@testable import WrenConvert
import WrenCore
import WrenHost
import WrenNetwork
import WrenReference
import WrenTestSupport

/// Calibration methods (minmax, percentile, entropy, mse) and per-tensor weights: the statistics on
/// distributions whose answer is known, then the methods on the trained digits model.
@Suite struct CalibrationTests {
    // MARK: Parsing

    @Test func methodsParseAndPrintBack() throws {
        #expect(try CalibrationMethod(parsing: "minmax") == .minMax)
        #expect(try CalibrationMethod(parsing: "entropy") == .entropy)
        #expect(try CalibrationMethod(parsing: "MSE") == .mse)
        #expect(CalibrationMethod.mse.description == "mse")
        #expect(try CalibrationMethod(parsing: "percentile") == .percentile(99.99))
        #expect(try CalibrationMethod(parsing: "percentile:99.9") == .percentile(99.9))
        #expect(try CalibrationMethod(parsing: "percentile:100").description == "percentile:100")
        #expect(CalibrationMethod.percentile(99.99).description == "percentile:99.99")
        #expect(try WeightGranularity(parsing: "per-tensor") == .perTensor)
        for bad in ["percentile:40", "percentile:abc", "percentile:101", "kld", ""] {
            #expect(throws: ConvertError.self, "\(bad)") { try CalibrationMethod(parsing: bad) }
        }
        #expect(throws: ConvertError.self) { try WeightGranularity(parsing: "per-row") }
    }

    // MARK: Histograms

    static func histogram(_ values: [Float], bins: Int = ActivationHistogram.defaultBinCount) -> ActivationHistogram {
        var histogram = ActivationHistogram(low: values.min()!, high: values.max()!, binCount: bins)
        values.withUnsafeBufferPointer { histogram.add($0) }
        return histogram
    }

    @Test func histogramCountsEveryValueOnce() {
        let values: [Float] = [-3, -1.5, 0, 0, 0.5, 2, 6]
        let histogram = Self.histogram(values, bins: 6)  // bin width 1 over |x| ≤ 6
        #expect(histogram.binWidth == 1)
        #expect(histogram.zeros == 2)
        #expect(histogram.positive == [1, 0, 1, 0, 0, 1])   // 0.5, 2, 6 (the top bin is closed)
        #expect(histogram.negative == [0, 1, 0, 1, 0, 0])   // -1.5, -3
        #expect(histogram.total == 7)
    }

    @Test func percentileClipsTheTailOnEachSide() {
        // 1...10000: the top 1% is 9901...10000, so the 99th percentile is 9900, to one bin
        // (10000/4096 with the default 4096 bins) plus one.
        let bins = Float(ActivationHistogram.defaultBinCount)
        let values = (1...10_000).map { Float($0) }
        let range = Self.histogram(values).percentileRange(tail: 0.01)
        #expect(range.lowerBound == 0)
        #expect(abs(range.upperBound - 9900) <= 10_000 / bins + 1, "\(range)")
        // Symmetric: -5000...5000 clips 0.5% = 50 values at each end.
        let signed = (-5000...5000).map { Float($0) }
        let both = Self.histogram(signed).percentileRange(tail: 0.005)
        #expect(abs(both.upperBound - 4950) <= 5000 / bins + 1, "\(both)")
        #expect(abs(both.lowerBound + 4950) <= 5000 / bins + 1, "\(both)")
        // Nothing to clip: the full range back.
        #expect(Self.histogram(signed).percentileRange(tail: 0) == -5000...5000)
    }

    @Test func entropyKeepsTheRangeOfAUniformDistribution() {
        var random = SplitMix64(seed: 11)
        let values = (0..<200_000).map { _ in Float.random(in: 0...1, using: &random) }
        let range = Self.histogram(values).entropyRange()
        #expect(range.lowerBound == 0)
        #expect(range.upperBound >= 0.95, "uniform data has nothing worth clipping: \(range)")
    }

    @Test func entropyClipsRareOutliers() {
        // A half-normal bulk (σ = 1, max ≈ 4.4) and one value in 10⁴ at 40: minmax would spend 90%
        // of the grid on the outliers; on such data from NumPy (half_normal_outliers in
        // fixtures/calibration/entropy_thresholds.json) MXNet's search keeps 764 of 4096 bins, 7.46.
        var random = SplitMix64(seed: 12)
        var values = (0..<200_000).map { _ in abs(random.gaussian()) }
        for index in stride(from: 0, to: values.count, by: 10_000) { values[index] = 40 }
        let bulkMaximum = values.filter { $0 < 40 }.max()!
        let range = Self.histogram(values).entropyRange()
        #expect(range.lowerBound == 0)
        #expect(range.upperBound >= bulkMaximum && range.upperBound < 10, "\(range), bulk max \(bulkMaximum)")
    }

    @Test func entropyKeepsOutliersOfAUniformBulk() {
        // KL's blind spot, shared with MXNet/TensorRT: merging bins of a flat distribution loses no
        // information, so clipping the outliers can only cost divergence and the full range stays.
        var random = SplitMix64(seed: 15)
        var values = (0..<200_000).map { _ in Float.random(in: 0...1, using: &random) }
        for index in stride(from: 0, to: values.count, by: 10_000) { values[index] = 20 }
        #expect(Self.histogram(values).entropyRange() == 0...20)
    }

    @Test func entropyOnASignedGaussianClipsSymmetrically() {
        var random = SplitMix64(seed: 13)
        let values = (0..<200_000).map { _ in random.gaussian() }
        let observed = values.map(abs).max()!
        let range = Self.histogram(values).entropyRange()
        // One threshold T for both sides, searched on |x|. Here the negative tail ends just inside
        // it (min ≈ -4.387, T ≈ 4.389), so only the longer positive tail is clipped.
        #expect(range.upperBound < values.max()!, "\(range), max \(values.max()!)")
        #expect(range.lowerBound == max(values.min()!, -range.upperBound), "\(range), min \(values.min()!)")
        // TensorRT-style KL on a unit Gaussian lands between 2.5σ and the observed max (~4.5σ).
        #expect(range.upperBound > 2.5 && range.upperBound < observed, "\(range), max |x| \(observed)")
        // With rare outliers at ±20 both tails reach beyond T: both are clipped, by the same T.
        var outlying = values
        for index in stride(from: 0, to: outlying.count, by: 10_000) { outlying[index] = index % 20_000 == 0 ? 20 : -20 }
        let clipped = Self.histogram(outlying).entropyRange()
        #expect(clipped.lowerBound > -20 && clipped.upperBound < 20, "\(clipped)")
        #expect(clipped.upperBound == -clipped.lowerBound, "\(clipped)")
        #expect(clipped.upperBound > 2.5 && clipped.upperBound < 10, "\(clipped)")
    }

    @Test func entropyIgnoresTheExactZerosOfAReLU() {
        var random = SplitMix64(seed: 14)
        let positive = (0..<50_000).map { _ in Float.random(in: 0...1, using: &random) }
        let withZeros = positive + [Float](repeating: 0, count: 150_000)
        #expect(Self.histogram(withZeros).entropyRange() == Self.histogram(positive).entropyRange())
    }

    /// One histogram of fixtures/calibration/entropy_thresholds.json (tools/make_entropy_fixtures.py)
    /// and the number of bins MXNet's search keeps on it for each number of levels.
    struct EntropyCase: Sendable, CustomStringConvertible {
        var name: String
        var histogram: [UInt64]
        var searches: [(levels: Int, bins: Int)]
        var description: String { name }

        /// The fixture's cases; empty when it is missing or malformed (a test asserts the count).
        static let all: [EntropyCase] = {
            guard let data = try? ImportFixtures.folder("calibration").data("entropy_thresholds.json"),
                  let document = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let cases = document["cases"] as? [[String: Any]] else { return [] }
            return cases.compactMap { entry in
                guard let name = entry["name"] as? String, let histogram = entry["histogram"] as? [Int],
                      let searches = entry["searches"] as? [[String: Any]] else { return nil }
                let pairs = searches.compactMap { search -> (levels: Int, bins: Int)? in
                    guard let levels = search["levels"] as? Int, let bins = search["bins"] as? Int else { return nil }
                    return (levels, bins)
                }
                guard pairs.count == searches.count, histogram.allSatisfy({ $0 >= 0 }) else { return nil }
                return EntropyCase(name: name, histogram: histogram.map { UInt64($0) }, searches: pairs)
            }
        }()
    }

    @Test func entropyFixtureHasEveryCase() {
        // 3 hand-written histograms (2 searches each), 4 of 200,000 values in 4096 bins (2 each),
        // 12 sparse ones (3 each).
        #expect(EntropyCase.all.count == 19)
        #expect(EntropyCase.all.map(\.searches.count).reduce(0, +) == 50)
        #expect(EntropyCase.all.contains { $0.histogram.count == ActivationHistogram.defaultBinCount && $0.searches.contains { $0.levels == 255 } })
        #expect(EntropyCase.all.contains { $0.histogram.count == ActivationHistogram.defaultBinCount && $0.searches.contains { $0.levels == 128 } })
    }

    /// The same bins, exactly, as tools/make_entropy_fixtures.py finds with the loop body of MXNet
    /// 1.5.1's `_get_optimal_threshold` (the script checks its copy against the installed MXNet)
    /// scoring one-sided windows in float64, as Wren does.
    @Test(arguments: EntropyCase.all)
    func entropySearchMatchesMXNet(_ fixture: EntropyCase) {
        for (levels, bins) in fixture.searches {
            #expect(EntropyThreshold.search(histogram: fixture.histogram, levels: levels) == bins,
                    "\(fixture.name): \(fixture.histogram.count) bins, \(levels) levels")
        }
    }

    /// The prefix-sum search picks what the bin-by-bin definition picks: on the fixture's
    /// histograms, and on random ones from dense to nearly empty (where it falls back to the
    /// bin-by-bin sum), with and without a far outlier.
    @Test func entropySearchEqualsItsBinByBinTwin() {
        for fixture in EntropyCase.all {
            for (levels, _) in fixture.searches {
                #expect(EntropyThreshold.search(histogram: fixture.histogram, levels: levels)
                        == EntropyThreshold.searchBinByBin(histogram: fixture.histogram, levels: levels), "\(fixture.name)")
            }
        }
        var random = SplitMix64(seed: 17)
        for trial in 0..<48 {
            let count = [300, 700, 1500, 4096][trial % 4]
            let emptyChance = [0.0, 0.3, 0.9, 0.995][(trial / 4) % 4]
            var histogram = (0..<count).map { index -> UInt64 in
                guard Double.random(in: 0..<1, using: &random) >= emptyChance else { return 0 }
                let decay = exp(-Double(index) / Double(count) * 8)
                return UInt64(Double.random(in: 0..<1, using: &random) * 100_000 * decay)
            }
            if trial % 3 == 0 { histogram[count - 1] += 1 }
            for levels in [128, 255] where count > levels {
                #expect(EntropyThreshold.search(histogram: histogram, levels: levels)
                        == EntropyThreshold.searchBinByBin(histogram: histogram, levels: levels), "trial \(trial), levels \(levels)")
            }
        }
    }

    @Test func entropySearchOnDegenerateHistograms() {
        #expect(EntropyThreshold.search(histogram: [UInt64](repeating: 0, count: 300), levels: 128) == 300)
        #expect(EntropyThreshold.search(histogram: [5, 5], levels: 128) == 2)
        let constant = Self.histogram([Float](repeating: 2, count: 100))
        #expect(constant.entropyRange().upperBound == 2)
    }

    // MARK: The digits model

    @Test func clippedRangesStayInsideTheObservedOnes() throws {
        let digits = try DigitsFixture.loaded()
        let (values, count) = (digits.calibration, digits.calibrationCount)
        let model = try WideResNet(stateDict: digits.checkpoint.tensors)
        var progress: [(Int, Int)] = []
        let entropy = try ActivationRanges.calibrate(
            model: model, inputs: values, count: count, height: 32, width: 32, method: .entropy, progress: { progress.append(($0, $1)) })
        #expect(progress.last.map { $0 == (2 * count, 2 * count) } == true, "two passes: \(progress.last.map { "\($0)" } ?? "none")")
        let everything = try ActivationRanges.calibrate(model: model, inputs: values, count: count, height: 32, width: 32, method: .percentile(100))
        for name in WideResNet.activationNames(for: model.architecture) {
            let observed = try #require(entropy.observed[name], "\(name)")
            let chosen = try #require(entropy[name], "\(name)")
            #expect(chosen.lowerBound >= min(observed.lowerBound, 0) && chosen.upperBound <= observed.upperBound, "\(name): \(chosen) vs \(observed)")
            if name.hasSuffix("relu1") || name.hasSuffix("relu2") || name == "relu" {
                #expect(observed.lowerBound >= 0 && chosen.lowerBound == 0, "\(name) follows a ReLU")
            }
            #expect(everything[name] == observed, "percentile:100 keeps every value of \(name)")
        }
        // Entropy does clip somewhere on real data, or it would be minmax under another name.
        #expect(WideResNet.activationNames(for: model.architecture).contains { entropy[$0]!.upperBound < entropy.observed[$0]!.upperBound })
    }

    @Test func histogramsMergeToTheHistogramOfBoth() {
        var random = SplitMix64(seed: 11)
        let values = (0..<5000).map { _ in random.gaussian() * 3 }
        let whole = Self.histogram(values)
        var first = ActivationHistogram(low: values.min()!, high: values.max()!)
        var second = first
        values[..<1234].withUnsafeBufferPointer { first.add($0) }
        values[1234...].withUnsafeBufferPointer { second.add($0) }
        first.merge(second)
        #expect(first == whole)
    }

    /// The 16-lane min/max equals the plain one for every length around the lane count (tails,
    /// extremes in the tail, negative zero where ReLU outputs meet).
    @Test func vectorRangeEqualsTheScalarOne() throws {
        var random = SplitMix64(seed: 5)
        for length in [1, 2, 15, 16, 17, 31, 32, 33, 100, 1000] {
            var values = (0..<length).map { _ in random.gaussian() }
            values[length - 1] = 9  // the maximum sits in the scalar tail
            let range = try #require(values.withUnsafeBufferPointer { CalibrationStatistics.range($0) })
            #expect(range == values.min()!...values.max()!, "length \(length)")
        }
        #expect([Float]().withUnsafeBufferPointer { CalibrationStatistics.range($0) } == nil)
    }

    /// MSE against hand-computed errors and known distributions: a uniform distribution has
    /// nothing worth clipping, and a Gaussian with one far outlier is clipped where the outlier's
    /// error and the rounding noise balance.
    @Test func mseTradesRoundingNoiseAgainstClipping() {
        // 4 bins of width 1 over [0, 4], counts 1, 1, 1, 2 (4 lands in the closed top bin) at centers
        // .5, 1.5, 2.5, 3.5; range 0...4 → scale Float(4/255), zero point −128. The expected sum of
        // squared errors from Python (float64, round-half-even):
        //   s = float(np.float32(4/255)); sum(n * (s * (min(max(round(c/s) - 128, -128), 127) + 128) - c)**2
        //       for c, n in [(.5, 1), (1.5, 1), (2.5, 1), (3.5, 2)])
        let small = Self.histogram([0.5, 1.5, 2.5, 3.5, 4], bins: 4)
        let quantization = ActivationQuantization(range: 0...4)
        let expected = 8.073598407266555e-05
        #expect(abs(small.squaredError(quantizedWith: quantization) - expected) <= 1e-15)

        let uniform = Self.histogram((0...10_000).map { Float($0) / 1000 })
        let kept = uniform.mseRange()
        #expect(kept.lowerBound == 0 && kept.upperBound > 9.9, "\(kept)")

        // 200 000 Gaussian values and one at 30. Over the full range (about −5...30) the rounding
        // noise, (35/255)²/12 per value, sums to ~310; clipping at u costs the outlier (30 − u)² and
        // scales the noise by ((u + 5)/35)², least near u ≈ 23.
        var random = SplitMix64(seed: 3)
        var values = (0..<200_000).map { _ in random.gaussian() }
        values.append(30)
        let outlier = Self.histogram(values)
        let clipped = outlier.mseRange()
        #expect(clipped.upperBound > 19 && clipped.upperBound < 26 && clipped.lowerBound < -3, "\(clipped)")
        func error(_ range: ClosedRange<Float>) -> Double { outlier.squaredError(quantizedWith: ActivationQuantization(range: range)) }
        let chosen = error(clipped)
        #expect(chosen < 0.85 * error(outlier.low...outlier.high), "\(chosen)")
        // A minimum: moving either bound by 5% either way costs more.
        for (lower, upper) in [(0.95, 1.0), (1.05, 1.0), (1.0, 0.95), (1.0, 1.05)] {
            let moved = (clipped.lowerBound * Float(lower))...(clipped.upperBound * Float(upper))
            #expect(error(moved) > chosen, "\(moved)")
        }
    }

    /// One weight scale per tensor: every output channel of a conv gets the same requantization
    /// multiplier (it is input_scale · weight_scale / output_scale); per channel they differ.
    @Test func perTensorWeightsShareOneScalePerLayer() throws {
        let models = ImportFixtures.folder("models")
        let checkpoint = try CheckpointLoader.load(path: models.path("wrn10_2_c3_bias.pth"))
        let input = try NumpyArray.read(path: models.path("wrn10_2_c3_bias.input.npy"))
        var options = ConversionOptions()
        options.weightGranularity = .perTensor
        let perTensor = try Converter.convert(checkpoint: checkpoint, calibration: try input.floats(), count: 4, options: options)
        let perChannel = try Converter.convert(checkpoint: checkpoint, calibration: try input.floats(), count: 4, options: ConversionOptions())
        func multiplierSets(_ model: QuantizedModel) -> [Set<[UInt8]>] {
            model.layers.filter { $0.op == .conv2d }.map { layer in
                let (multipliers, shifts) = (layer.blobs[2], layer.blobs[3])
                return Set((0..<layer.outChannels).map { Array(multipliers[(4 * $0)..<(4 * $0 + 4)]) + Array(shifts[(4 * $0)..<(4 * $0 + 4)]) })
            }
        }
        #expect(multiplierSets(perTensor.quantized).allSatisfy { $0.count == 1 })
        #expect(multiplierSets(perChannel.quantized).contains { $0.count > 1 })
        #expect(perTensor.quantized.metadata.contains { $0.key == "weights" && $0.value == "int8 symmetric per tensor" })
    }

    /// The calibration statistics do not depend on the thread count: ranges and histograms merge
    /// exactly, the mean logits are summed in input order, and the reference runs one OpenBLAS
    /// thread per GEMM. Odd chunk sizes leave a short last chunk.
    @Test func calibrationIsTheSameOnAnyNumberOfThreads() throws {
        let digits = try DigitsFixture.loaded()
        let model = try WideResNet(stateDict: digits.checkpoint.tensors)
        let count = 53
        let inputs = Array(digits.calibration[..<(count * 3 * 32 * 32)])
        let pool = ThreadPool(workers: 3)
        for method in [CalibrationMethod.minMax, .mse] {
            let serial = try ActivationRanges.calibrate(model: model, inputs: inputs, count: count, height: 32, width: 32, chunk: 7, method: method)
            var progress: [Int] = []
            let threaded = try ActivationRanges.calibrate(
                model: model, inputs: inputs, count: count, height: 32, width: 32, chunk: 7, method: method,
                parallelism: pool.parallelism, progress: { done, _ in progress.append(done) })
            #expect(threaded.observed == serial.observed)
            #expect(threaded.ranges == serial.ranges)
            #expect(threaded.histograms == serial.histograms)
            #expect(threaded.meanLogits == serial.meanLogits)
            #expect(progress == progress.sorted() && progress.last == (method == .minMax ? count : 2 * count), "\(progress)")
        }
    }

    /// Real data: entropy and percentile calibration keep the trained digits model's accuracy
    /// (checked on the first 64 test images; the README has the full 360 for every method).
    @Test(arguments: [CalibrationMethod.entropy, .percentile(99.99), .mse])
    func trainedModelKeepsItsAccuracy(_ method: CalibrationMethod) throws {
        let digits = try DigitsFixture.loaded()
        var options = ConversionOptions()
        options.calibrationMethod = method
        let converted = try Converter.convert(
            checkpoint: digits.checkpoint, calibration: digits.calibration, count: digits.calibrationCount, options: options)
        #expect(converted.quantized.metadata.contains { $0.key == "calibration" && $0.value.hasPrefix("\(method) over 200 inputs") })
        let subset = 64
        let (inputs, labels) = digits.test(prefix: subset)
        let context = try WrenContext(model: try WrenModel(bytes: converted.bytes), maxBatch: subset)
        let int8 = argmax(try context.run(inputs, batch: subset), classes: DigitsFixture.classes)
        let float = argmax(try converted.reference.forward(inputs, batch: subset), classes: DigitsFixture.classes)
        let agreement = zip(int8, float).filter { $0 == $1 }.count
        let int8Correct = zip(int8, labels).filter { $0 == $1 }.count
        let floatCorrect = zip(float, labels).filter { $0 == $1 }.count
        #expect(agreement >= subset - 1, "\(method): agreement \(agreement)/\(subset)")
        #expect(abs(int8Correct - floatCorrect) <= 1, "\(method): int8 \(int8Correct), float \(floatCorrect) of \(subset)")
    }
}

/// A Box–Muller Gaussian from the shared seeded generator: reproducible test distributions.
extension SplitMix64 {
    mutating func gaussian() -> Float {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let v = Double.random(in: 0..<1, using: &self)
        return Float((-2 * Foundation.log(u)).squareRoot() * cos(2 * Double.pi * v))
    }
}
