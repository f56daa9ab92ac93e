import Foundation
import Testing
import WrenConvert
import WrenCore
import WrenReference

/// Calibration methods (minmax, percentile, entropy) and per-tensor weights: the statistics on
/// distributions whose answer is known, then the methods on the trained digits model.
@Suite struct CalibrationTests {
    // MARK: Parsing

    @Test func methodsParseAndPrintBack() throws {
        #expect(try CalibrationMethod(parsing: "minmax") == .minMax)
        #expect(try CalibrationMethod(parsing: "entropy") == .entropy)
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
        // 1...10000: the top 1% is 9901...10000, so the 99th percentile is 9900 (to one bin, 10000/2048).
        let values = (1...10_000).map { Float($0) }
        let range = Self.histogram(values).percentileRange(tail: 0.01)
        #expect(range.lowerBound == 0)
        #expect(abs(range.upperBound - 9900) <= 10_000 / 2048 + 1, "\(range)")
        // Symmetric: -5000...5000 clips 0.5% = 50 values at each end.
        let signed = (-5000...5000).map { Float($0) }
        let both = Self.histogram(signed).percentileRange(tail: 0.005)
        #expect(abs(both.upperBound - 4950) <= 5000 / 2048 + 1, "\(both)")
        #expect(abs(both.lowerBound + 4950) <= 5000 / 2048 + 1, "\(both)")
        // Nothing to clip: the full range back.
        #expect(Self.histogram(signed).percentileRange(tail: 0) == -5000...5000)
    }

    @Test func entropyKeepsTheRangeOfAUniformDistribution() {
        var random = SplitMix(seed: 11)
        let values = (0..<200_000).map { _ in Float.random(in: 0...1, using: &random) }
        let range = Self.histogram(values).entropyRange()
        #expect(range.lowerBound == 0)
        #expect(range.upperBound >= 0.95, "uniform data has nothing worth clipping: \(range)")
    }

    @Test func entropyClipsRareOutliers() {
        // A half-normal bulk (σ = 1, max ≈ 4.4) and one value in 10⁴ at 40: minmax would spend 90%
        // of the grid on the outliers; MXNet's search on such data (numpy, by hand) keeps ≈ 7.5.
        var random = SplitMix(seed: 12)
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
        var random = SplitMix(seed: 15)
        var values = (0..<200_000).map { _ in Float.random(in: 0...1, using: &random) }
        for index in stride(from: 0, to: values.count, by: 10_000) { values[index] = 20 }
        #expect(Self.histogram(values).entropyRange() == 0...20)
    }

    @Test func entropyOnASignedGaussianClipsSymmetrically() {
        var random = SplitMix(seed: 13)
        let values = (0..<200_000).map { _ in random.gaussian() }
        let observed = values.map(abs).max()!
        let range = Self.histogram(values).entropyRange()
        #expect(range.upperBound == -range.lowerBound || range.lowerBound == values.min()! || range.upperBound == values.max()!)
        // TensorRT-style KL on a unit Gaussian lands between 2.5σ and the observed max (~4.5σ).
        #expect(range.upperBound > 2.5 && range.upperBound < observed, "\(range), max |x| \(observed)")
    }

    @Test func entropyIgnoresTheExactZerosOfAReLU() {
        var random = SplitMix(seed: 14)
        let positive = (0..<50_000).map { _ in Float.random(in: 0...1, using: &random) }
        let withZeros = positive + [Float](repeating: 0, count: 150_000)
        #expect(Self.histogram(withZeros).entropyRange() == Self.histogram(positive).entropyRange())
    }

    /// Thresholds (in bins) from a line-by-line NumPy/SciPy transcription of MXNet's
    /// `_get_optimal_threshold` (contrib/quantization.py, the open implementation of TensorRT's
    /// entropy calibrator that ONNX Runtime's `get_entropy_threshold` also derives from), run by
    /// hand on these one-sided histograms with 8 and 16 levels.
    @Test(arguments: [
        ([1000, 998, 990, 978, 961, 939, 914, 885, 852, 817, 779, 739, 698, 655, 613, 570, 527, 486, 445, 406, 368, 332, 298, 266,
          237, 210, 185, 162, 141, 122, 105, 90, 77, 66, 56, 47, 39, 33, 27, 22, 18, 15, 12, 10, 8, 6, 5, 4, 3, 2, 2, 1, 1, 1, 1, 1,
          0, 0, 0, 0, 0, 0, 0, 0] as [UInt64], 44, 52),
        ([1000, 846, 717, 607, 513, 435, 368, 311, 264, 223, 189, 160, 135, 115, 97, 82, 69, 59, 50, 42, 36, 30, 26, 22, 18, 16, 13,
          11, 9, 8, 7, 6, 5, 4, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3], 31, 41),
        ([0, 352, 553, 522, 287, 325, 616, 491, 346, 68, 418, 614, 577, 340, 183, 470, 550, 399, 137, 485, 675, 423, 182, 251, 534,
          608, 452, 205, 341, 526, 478, 234, 319, 598, 666, 296, 64, 407, 587, 534, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0,
          0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], 91, 40),
    ])
    func entropySearchMatchesMXNet(_ histogram: [UInt64], _ eightLevels: Int, _ sixteenLevels: Int) {
        #expect(EntropyThreshold.search(histogram: histogram, levels: 8) == eightLevels)
        #expect(EntropyThreshold.search(histogram: histogram, levels: 16) == sixteenLevels)
    }

    @Test func entropySearchOnDegenerateHistograms() {
        #expect(EntropyThreshold.search(histogram: [UInt64](repeating: 0, count: 300), levels: 128) == 300)
        #expect(EntropyThreshold.search(histogram: [5, 5], levels: 128) == 2)
        let constant = Self.histogram([Float](repeating: 2, count: 100))
        #expect(constant.entropyRange().upperBound == 2)
    }

    // MARK: The digits model

    static let digits = ImportFixtures.repoRoot.appendingPathComponent("fixtures/digits")

    static func digitsCalibration() throws -> (checkpoint: Checkpoint, values: [Float], count: Int) {
        let checkpoint = try CheckpointLoader.load(path: digits.appendingPathComponent("wrn16_2_digits.pth").path)
        let calibration = try NumpyArray.read(path: digits.appendingPathComponent("calib_x.npy").path)
        return (checkpoint, try calibration.floats(), calibration.shape[0])
    }

    @Test func clippedRangesStayInsideTheObservedOnes() throws {
        let (checkpoint, values, count) = try Self.digitsCalibration()
        let model = try WideResNet(stateDict: checkpoint.tensors)
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

    /// One weight scale per tensor: every output channel of a conv gets the same requantization
    /// multiplier (it is input_scale · weight_scale / output_scale); per channel they differ.
    @Test func perTensorWeightsShareOneScalePerLayer() throws {
        let checkpoint = try CheckpointLoader.load(path: ImportFixtures.models.appendingPathComponent("wrn10_2_c3_bias.pth").path)
        let input = try NumpyArray.read(path: ImportFixtures.models.appendingPathComponent("wrn10_2_c3_bias.input.npy").path)
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

    /// Real data: entropy and percentile calibration keep the trained digits model's accuracy
    /// (checked on the first 64 test images; the README has the full 360 for every method).
    @Test(arguments: [CalibrationMethod.entropy, .percentile(99.99)])
    func trainedModelKeepsItsAccuracy(_ method: CalibrationMethod) throws {
        let (checkpoint, values, count) = try Self.digitsCalibration()
        var options = ConversionOptions()
        options.calibrationMethod = method
        let converted = try Converter.convert(checkpoint: checkpoint, calibration: values, count: count, options: options)
        #expect(converted.quantized.metadata.contains { $0.key == "calibration" && $0.value.hasPrefix("\(method) over 200 inputs") })
        let testX = try NumpyArray.read(path: Self.digits.appendingPathComponent("test_x.npy").path)
        let labels = try NumpyArray.read(path: Self.digits.appendingPathComponent("test_y.npy").path).int64s()
        let subset = 64
        let inputs = Array(try testX.floats().prefix(subset * 3 * 32 * 32))
        let context = try WrenContext(model: try WrenModel(bytes: converted.bytes), maxBatch: subset)
        let int8 = try context.run(inputs, batch: subset)
        let float = try converted.reference.forward(inputs, batch: subset)
        func top(_ logits: [Float]) -> [Int] {
            stride(from: 0, to: logits.count, by: 10).map { start in (start..<(start + 10)).max { logits[$0] < logits[$1] }! - start }
        }
        let agreement = zip(top(int8), top(float)).filter { $0 == $1 }.count
        let int8Correct = zip(top(int8), labels).filter { Int64($0) == $1 }.count
        let floatCorrect = zip(top(float), labels).filter { Int64($0) == $1 }.count
        #expect(agreement >= subset - 1, "\(method): agreement \(agreement)/\(subset)")
        #expect(abs(int8Correct - floatCorrect) <= 1, "\(method): int8 \(int8Correct), float \(floatCorrect) of \(subset)")
    }
}

/// SplitMix64 with a Box–Muller Gaussian: reproducible test distributions.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func gaussian() -> Float {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let v = Double.random(in: 0..<1, using: &self)
        return Float((-2 * Foundation.log(u)).squareRoot() * cos(2 * Double.pi * v))
    }
}
