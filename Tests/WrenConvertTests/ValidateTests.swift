import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import WrenConvert
import WrenCore
import WrenNetwork
import WrenReference

/// `Validator`: every number in the report recomputed independently here from the int8 runtime and
/// the float reference, plus the JSON, table and SVG renderings.
@Suite struct ValidateTests {
    struct Setup: Sendable {
        var model: WrenModel
        var reference: WideResNet
        var inputs: Validator.Inputs
    }

    /// The WRN-16-2 digits model converted (min/max) on its calibration images (DigitsFixture, done
    /// once per run), and the first `count` test images with their labels.
    static func digits(count: Int) throws -> Setup {
        let converted = try DigitsFixture.minMax()
        let (values, labels) = try DigitsFixture.loaded().test(prefix: count)
        return Setup(
            model: converted.model, reference: converted.reference,
            inputs: Validator.Inputs(values: values, count: count, names: (0..<count).map { "test[\($0)]" }, labels: labels))
    }

    static let shared: Result<(Setup, ValidationReport), any Error> = Result {
        let setup = try digits(count: 20)
        let report = try Validator.validate(
            model: setup.model, reference: setup.reference, inputs: setup.inputs, modelFile: "digits.wren",
            referenceFile: "wrn16_2_digits.pth", chunk: 8)
        return (setup, report)
    }

    @Test func summaryNumbersMatchAnIndependentRun() throws {
        let (setup, report) = try Self.shared.get()
        let count = setup.inputs.count
        let int8 = try WrenContext(model: setup.model, maxBatch: count).run(setup.inputs.values, batch: count)
        let float = try setup.reference.forward(setup.inputs.values, batch: count)
        let (int8Top, floatTop) = (argmax(int8, classes: 10), argmax(float, classes: 10))
        let labels = try #require(setup.inputs.labels)
        #expect(report.imageCount == count)
        #expect(report.agreeing == zip(int8Top, floatTop).filter { $0 == $1 }.count)
        #expect(report.int8Correct == zip(int8Top, labels).filter { $0 == $1 }.count)
        #expect(report.floatCorrect == zip(floatTop, labels).filter { $0 == $1 }.count)
        let deltas = zip(int8, float).map { Double(abs($0 - $1)) }
        #expect(abs(report.maxAbsLogitDelta - deltas.max()!) < 1e-9)
        #expect(abs(report.meanAbsLogitDelta - deltas.reduce(0, +) / Double(deltas.count)) < 1e-9)
        #expect(report.classNames == (0..<10).map { "digit \($0)" })
        #expect(report.model.calibration.hasPrefix("minmax over 200 inputs"))
        // Confusion rows add up to how often each class occurs.
        let confusion = try #require(report.int8Confusion)
        for digit in 0..<10 { #expect(confusion[digit].reduce(0, +) == labels.filter { $0 == digit }.count) }
        #expect((0..<10).map { confusion[$0][$0] }.reduce(0, +) == report.int8Correct)
    }

    @Test func everyQuantizedActivationIsCompared() throws {
        let (setup, report) = try Self.shared.get()
        // WRN-16-2's first block has a shortcut, so its bn1 folds into the stem: no int8 "conv1".
        let expected = WideResNet.activationNames(for: setup.reference.architecture).filter { $0 != "pool" && $0 != "conv1" }
        #expect(report.layers.map(\.name) == expected)
        // The folded stem writes relu1 with one rounding: 42.4 dB on the 360 test digits, 36.5 dB
        // when the stem's output was rounded to int8 first and bn1 applied as an integer affine.
        let relu1 = try #require(report.layers.first { $0.name == "block1.layer.0.relu1" }?.sqnrDB)
        #expect(relu1 > 40, "block1.layer.0.relu1: \(relu1) dB")
        for layer in report.layers {
            let sqnr = try #require(layer.sqnrDB, "\(layer.name)")
            #expect(sqnr > 15 && sqnr < 60, "\(layer.name): \(sqnr) dB")
            #expect(layer.cosine > 0.99 && layer.cosine <= 1.000001, "\(layer.name): cosine \(layer.cosine)")
            #expect(layer.clippedFraction < 0.01, "\(layer.name): \(layer.clippedFraction) of the values clipped")
        }
        #expect(report.worstLayers.count == Validator.worstLayerCount)
        let worst = try #require(report.layers.first { $0.name == report.worstLayers[0] }?.sqnrDB)
        #expect(report.layers.allSatisfy { ($0.sqnrDB ?? .infinity) >= worst })
    }

    /// The input layer's SQNR recomputed by quantizing the float input by hand with the file's scale
    /// and zero point (round half to even, as the runtime does).
    @Test func inputLayerSQNRIsTheQuantizationNoiseOfTheInput() throws {
        let (setup, report) = try Self.shared.get()
        let tensor = try #require(setup.model.description.tensors.first { $0.name == "input" })
        var signal = 0.0, noise = 0.0
        for x in setup.inputs.values {
            let q = min(max((x / tensor.scale).rounded(.toNearestOrEven) + Float(tensor.zeroPoint), -128), 127)
            let y = (q - Float(tensor.zeroPoint)) * tensor.scale
            signal += Double(x) * Double(x)
            noise += Double(x - y) * Double(x - y)
        }
        let expected = 10 * log10(signal / noise)
        let input = try #require(report.layers.first)
        #expect(input.name == "input")
        #expect(abs(try #require(input.sqnrDB) - expected) < 1e-6, "\(input.sqnrDB ?? .nan) vs \(expected)")
    }

    @Test func statisticsOfAHandComputedExample() {
        var statistics = LayerErrorStatistics()
        for (x, y) in [(1, 1), (2, 2), (3, 4)] as [(Float, Float)] {
            statistics.add(float: x, dequantized: y, outsideRange: x > 2.5)
        }
        #expect(abs(statistics.sqnrDecibels! - 10 * log10(14.0)) < 1e-12)
        #expect(abs(statistics.cosine - 17 / (14.0 * 21).squareRoot()) < 1e-12)
        #expect(statistics.clippedFraction == 1.0 / 3)
        #expect(statistics.maxAbsoluteError == 1)
        var exact = LayerErrorStatistics()
        exact.add(float: 2, dequantized: 2, outsideRange: false)
        #expect(exact.sqnrDecibels == nil && exact.cosine == 1)
    }

    @Test func jsonRoundTripsAndTheTableReadsWell() throws {
        let (_, report) = try Self.shared.get()
        let json = try report.jsonBytes()
        #expect(try ValidationReport.decode(json: json) == report)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        #expect(object["agreement"] as? Double == report.agreement)
        #expect(object["int8Accuracy"] as? Double == report.int8Accuracy)
        let table = report.table()
        #expect(table.contains("top-1 agreement   \(ValidationReport.fixed(100 * report.agreement, 2))%"), "\(table)")
        #expect(table.contains("block3.layer.1.relu2"))
        #expect(table.contains("worst layers      \(report.worstLayers[0])"))
        #expect(report.table(layerLimit: 3).contains("more layers (all in --json)"))
    }

    @Test func chartIsWellFormedSVGWithBarsAndConfusion() throws {
        let (_, report) = try Self.shared.get()
        let svg = report.svgChart()
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "SVG is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")")
        for layer in report.layers { #expect(svg.contains(">\(layer.name)</text>"), "\(layer.name)") }
        #expect(svg.contains("int8 confusion"))
        var unlabeled = report
        unlabeled.floatConfusion = nil
        unlabeled.int8Confusion = nil
        #expect(!unlabeled.svgChart().contains("confusion"))
        // Class names are escaped.
        var named = report
        named.classNames[0] = "<a & b>"
        #expect(named.svgChart().contains("&lt;a &amp; b&gt;"))
    }

    @Test func badLabelsAndMismatchedReferencesAreRefused() throws {
        var setup = try Self.digits(count: 2)
        setup.inputs.labels = [0, 10]
        #expect(throws: ConvertError.self) {
            try Validator.validate(model: setup.model, reference: setup.reference, inputs: setup.inputs, modelFile: "m", referenceFile: "r")
        }
        setup.inputs.labels = [0]
        #expect(throws: ConvertError.self) {
            try Validator.validate(model: setup.model, reference: setup.reference, inputs: setup.inputs, modelFile: "m", referenceFile: "r")
        }
        let other = try WideResNet(stateDict: try CheckpointLoader.load(path: ImportFixtures.models.appendingPathComponent("wrn10_2_c3_bias.pth").path).tensors)
        setup.inputs.labels = nil
        #expect(throws: ConvertError.self) {
            try Validator.validate(model: setup.model, reference: other, inputs: setup.inputs, modelFile: "m", referenceFile: "r")
        }
    }

    @Test func classFoldersMatchLabelsByName() throws {
        let byName = try ClassFolders.classIndices(folders: ["sparrow", "crow"], modelLabels: ["crow", "finch", "sparrow"], numClasses: 3)
        #expect(byName.map(\.folder) == ["crow", "sparrow"] && byName.map(\.classIndex) == [0, 2])
        let sorted = try ClassFolders.classIndices(folders: ["b", "a"], modelLabels: nil, numClasses: 2)
        #expect(sorted.map(\.classIndex) == [0, 1] && sorted.map(\.folder) == ["a", "b"])
        #expect(throws: ClassFolders.Failure.unknownClass(folder: "owl", labels: ["crow"])) {
            try ClassFolders.classIndices(folders: ["owl"], modelLabels: ["crow"], numClasses: 1)
        }
        #expect(throws: ClassFolders.Failure.tooManyFolders(count: 3, classes: 2)) {
            try ClassFolders.classIndices(folders: ["a", "b", "c"], modelLabels: nil, numClasses: 2)
        }
    }
}
