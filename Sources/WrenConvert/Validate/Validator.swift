import WrenCore
import WrenNetwork
import WrenReference

/// Runs the same inputs through an int8 `.wren` model and its float reference and measures the
/// difference: top-1 agreement, accuracy against labels, logit error, and per layer the SQNR and
/// cosine similarity of every int8 activation (dequantized) against the float activation of the
/// same name (`WideResNet.activationNames`). Inputs go through in chunks: the int8 model first
/// (keeping every activation), then the float model, whose observer compares each activation as
/// it is produced, so no float activation is stored.
public enum Validator {
    public struct Inputs: Sendable {
        /// Normalized NCHW float32 images.
        public var values: [Float]
        public var count: Int
        /// A display name per input (file or `file[i]`).
        public var names: [String]
        /// The true class of each input, when known.
        public var labels: [Int]?

        public init(values: [Float], count: Int, names: [String], labels: [Int]?) {
            self.values = values
            self.count = count
            self.names = names
            self.labels = labels
        }
    }

    public static let worstLayerCount = 5
    public static let disagreementLimit = 20

    /// - Parameters:
    ///   - modelFile / referenceFile: names shown in the report.
    ///   - kernels, parallelism, arenaLimit: how the int8 model runs (WrenHost picks the fast ones).
    ///   - progress: called with (images done, total) after each chunk.
    public static func validate(
        model: WrenModel, reference: WideResNet, inputs: Inputs, modelFile: String, referenceFile: String,
        chunk: Int = 16, kernels: KernelTable = .portable, parallelism: Parallelism = .serial,
        arenaLimit: Int = WrenContext.defaultArenaLimit, progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> ValidationReport {
        let description = model.description
        let info = description.input
        let classes = description.numClasses
        guard reference.architecture.numClasses == classes else {
            throw ConvertError.invalidOption("the reference has \(reference.architecture.numClasses) classes, the model \(classes)")
        }
        let perImage = info.channels * info.height * info.width
        guard inputs.count >= 1, inputs.values.count == inputs.count * perImage, inputs.names.count == inputs.count else {
            throw ConvertError.invalidOption("expected \(inputs.count) inputs of \(info.channels)x\(info.height)x\(info.width) values with a name each")
        }
        if let labels = inputs.labels {
            guard labels.count == inputs.count else {
                throw ConvertError.invalidOption("\(labels.count) labels for \(inputs.count) inputs")
            }
            if let bad = labels.firstIndex(where: { $0 < 0 || $0 >= classes }) {
                throw ConvertError.invalidOption("label \(labels[bad]) of input \(bad) is not a class of this model (0..<\(classes))")
            }
        }

        // The int8 tensors that have a float counterpart, by name.
        let tensorIndex = Dictionary(description.tensors.enumerated().map { ($0.element.name, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let referenceNames = Set(WideResNet.activationNames(for: reference.architecture))
        let compared = description.tensors.indices.filter { referenceNames.contains(description.tensors[$0].name) }
        var statistics = [LayerErrorStatistics](repeating: LayerErrorStatistics(), count: description.tensors.count)

        let batch = max(1, min(chunk, inputs.count))
        let context = try WrenContext(
            model: model, maxBatch: batch, retainActivations: true, kernels: kernels, parallelism: parallelism, arenaLimit: arenaLimit)
        var int8Logits: [Float] = []
        var floatLogits: [Float] = []
        int8Logits.reserveCapacity(inputs.count * classes)
        floatLogits.reserveCapacity(inputs.count * classes)

        var start = 0
        while start < inputs.count {
            let n = min(batch, inputs.count - start)
            let slice = Array(inputs.values[(start * perImage)..<((start + n) * perImage)])
            int8Logits += try context.run(slice, batch: n)
            floatLogits += try reference.forward(slice, batch: n, height: info.height, width: info.width) { name, shape, values in
                guard let index = tensorIndex[name], referenceNames.contains(name) else { return }
                if let int8 = context.activations(tensor: index, batch: n) {
                    compare(float: values, shape: shape, int8: int8, tensor: description.tensors[index], into: &statistics[index])
                } else if let int16 = context.wideActivations(tensor: index, batch: n) {
                    compare(float: values, shape: shape, int8: int16, tensor: description.tensors[index], into: &statistics[index])
                }
            }
            start += n
            progress(start, inputs.count)
        }
        // NaN or infinite logits would make every number of the report meaningless: say where they came from instead.
        let image = { (index: Int) in Array(inputs.values[(index * perImage)..<((index + 1) * perImage)]) }
        try NonFiniteTrace.check(logits: int8Logits, classes: classes, model: "int8", names: inputs.names) {
            NonFiniteTrace.firstLayer(model: model, image: image($0), kernels: kernels)
        }
        try NonFiniteTrace.check(logits: floatLogits, classes: classes, model: "float", names: inputs.names) {
            NonFiniteTrace.firstLayer(reference: reference, image: image($0), height: info.height, width: info.width)
        }
        return report(
            description: description, inputs: inputs, statistics: statistics, compared: compared,
            int8Logits: int8Logits, floatLogits: floatLogits, modelFile: modelFile, referenceFile: referenceFile)
    }

    /// Adds one activation of a whole chunk: float NCHW against int8 (or int16) NHWC.
    static func compare<Quantized: FixedWidthInteger>(
        float: UnsafeBufferPointer<Float>, shape: ActivationShape, int8: UnsafeBufferPointer<Quantized>, tensor: TensorInfo,
        into statistics: inout LayerErrorStatistics
    ) {
        let (channels, height, width) = (shape.channels, shape.height, shape.width)
        guard channels == tensor.channels, height == tensor.height, width == tensor.width,
              float.count == shape.count, int8.count >= shape.count else { return }
        let scale = tensor.scale
        let zeroPoint = tensor.zeroPoint
        let lowest = Float(tensor.elementType.minimum - zeroPoint) * scale
        let highest = Float(tensor.elementType.maximum - zeroPoint) * scale
        let plane = height * width
        for image in 0..<shape.batch {
            let floatBase = image * channels * plane
            let int8Base = image * tensor.elementCount
            for c in 0..<channels {
                for pixel in 0..<plane {
                    let x = float[floatBase + c * plane + pixel]
                    let q = int8[int8Base + pixel * channels + c]
                    let y = Float(Int32(q) - zeroPoint) * scale
                    statistics.add(float: x, dequantized: y, outsideRange: x < lowest || x > highest)
                }
            }
        }
    }

    /// How the worst layers are ranked (ascending): exact layers rank best; a non-finite, inexact
    /// SQNR (all-zero float) ranks worst. `wren convert --auto-keep-wider` ranks the same way.
    static func rank(_ layer: ValidationReport.Layer) -> Double { layer.exact ? .infinity : (layer.sqnrDB ?? -.infinity) }

    static func argmax(_ row: ArraySlice<Float>) -> Int {
        var best = row.startIndex
        for index in row.indices where row[index] > row[best] { best = index }
        return best - row.startIndex
    }

    static func report(
        description: ModelDescription, inputs: Inputs, statistics: [LayerErrorStatistics], compared: [Int],
        int8Logits: [Float], floatLogits: [Float], modelFile: String, referenceFile: String
    ) -> ValidationReport {
        let classes = description.numClasses
        let count = inputs.count
        var int8Top: [Int] = []
        var floatTop: [Int] = []
        for image in 0..<count {
            let range = (image * classes)..<((image + 1) * classes)
            int8Top.append(argmax(int8Logits[range]))
            floatTop.append(argmax(floatLogits[range]))
        }
        var logitStatistics = LayerErrorStatistics()
        var sumDelta = 0.0
        for (q, f) in zip(int8Logits, floatLogits) {
            logitStatistics.add(float: f, dequantized: q, outsideRange: false)
            sumDelta += Double(abs(q - f))
        }

        var floatCorrect: Int?
        var int8Correct: Int?
        var floatConfusion: [[Int]]?
        var int8Confusion: [[Int]]?
        if let labels = inputs.labels {
            floatCorrect = zip(floatTop, labels).filter { $0 == $1 }.count
            int8Correct = zip(int8Top, labels).filter { $0 == $1 }.count
            var floatMatrix = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
            var int8Matrix = floatMatrix
            for image in 0..<count {
                floatMatrix[labels[image]][floatTop[image]] += 1
                int8Matrix[labels[image]][int8Top[image]] += 1
            }
            floatConfusion = floatMatrix
            int8Confusion = int8Matrix
        }

        let layers = compared.map { index -> ValidationReport.Layer in
            let tensor = description.tensors[index]
            let stats = statistics[index]
            let sqnr = stats.sqnrDecibels
            return ValidationReport.Layer(
                name: tensor.name, shape: [tensor.channels, tensor.height, tensor.width], scale: tensor.scale,
                zeroPoint: tensor.zeroPoint, elementType: tensor.elementType == .int16 ? "int16" : "int8", sqnrDB: sqnr.flatMap { $0.isFinite ? $0 : nil }, exact: sqnr == nil,
                cosine: stats.cosine, clippedFraction: stats.clippedFraction, maxAbsError: stats.maxAbsoluteError,
                floatMin: stats.count > 0 ? stats.floatMinimum : 0, floatMax: stats.count > 0 ? stats.floatMaximum : 0)
        }
        let worst = layers.sorted { rank($0) < rank($1) }.prefix(worstLayerCount).map(\.name)

        var disagreements: [ValidationReport.Disagreement] = []
        for image in 0..<count where int8Top[image] != floatTop[image] && disagreements.count < disagreementLimit {
            disagreements.append(.init(
                index: image, name: inputs.names[image], floatClass: floatTop[image], int8Class: int8Top[image],
                label: inputs.labels?[image]))
        }
        let labels = description.labels ?? (0..<classes).map(String.init)
        let summary = ValidationReport.ModelSummary(
            file: modelFile, reference: referenceFile,
            architecture: description.metadataValue("architecture") ?? "?", numClasses: classes,
            calibration: description.metadataValue("calibration") ?? "?",
            weights: description.metadataValue("weights") ?? "?")
        let logitSQNR = logitStatistics.sqnrDecibels
        return ValidationReport(
            model: summary, imageCount: count, classNames: labels, floatCorrect: floatCorrect, int8Correct: int8Correct,
            agreeing: zip(int8Top, floatTop).filter { $0 == $1 }.count,
            meanAbsLogitDelta: sumDelta / Double(max(int8Logits.count, 1)),
            maxAbsLogitDelta: logitStatistics.maxAbsoluteError,
            logitSQNRDB: logitSQNR.flatMap { $0.isFinite ? $0 : nil },
            layers: layers, worstLayers: Array(worst), floatConfusion: floatConfusion, int8Confusion: int8Confusion,
            disagreements: disagreements)
    }
}
