/// What `wren validate` measured: how far the int8 model is from its float reference, on the
/// classification and layer by layer. Codable, so the JSON written for scripts is this structure.
public struct ValidationReport: Codable, Sendable, Equatable {
    /// Which model and reference were compared, from the `.wren` file's metadata.
    public struct ModelSummary: Codable, Sendable, Equatable {
        public var file: String
        public var reference: String
        public var architecture: String
        public var numClasses: Int
        public var calibration: String
        public var weights: String
    }

    /// One int8 activation against the float activation of the same name.
    public struct Layer: Codable, Sendable, Equatable {
        public var name: String
        /// [channels, height, width]
        public var shape: [Int]
        public var scale: Float
        public var zeroPoint: Int32
        /// "int8", or "int16" for a tensor `wren convert --keep-wider` kept wider.
        public var elementType: String
        /// Signal-to-quantization-noise ratio in dB; nil when not finite (see `exact`).
        public var sqnrDB: Double?
        /// True when int8 reproduced every float value exactly (infinite SQNR).
        public var exact: Bool
        public var cosine: Double
        /// Share of float values outside the stored range: [(-128 − zp)·scale, (127 − zp)·scale] for
        /// int8, ±32767·scale for int16.
        public var clippedFraction: Double
        public var maxAbsError: Double
        public var floatMin: Double
        public var floatMax: Double
    }

    /// An input whose top-1 class differs between float and int8.
    public struct Disagreement: Codable, Sendable, Equatable {
        public var index: Int
        public var name: String
        public var floatClass: Int
        public var int8Class: Int
        public var label: Int?
    }

    public var model: ModelSummary
    public var imageCount: Int
    public var classNames: [String]
    /// Present when the inputs had labels.
    public var floatCorrect: Int?
    public var int8Correct: Int?
    public var agreeing: Int
    public var meanAbsLogitDelta: Double
    public var maxAbsLogitDelta: Double
    /// SQNR of the logits themselves, in dB (nil when identical).
    public var logitSQNRDB: Double?
    /// Every int8 activation in execution order.
    public var layers: [Layer]
    /// Names of the layers with the lowest SQNR, worst first.
    public var worstLayers: [String]
    /// [true class][predicted class] counts, when labels exist.
    public var floatConfusion: [[Int]]?
    public var int8Confusion: [[Int]]?
    /// The first inputs (up to 20) on which float and int8 disagree.
    public var disagreements: [Disagreement]

    public var floatAccuracy: Double? { floatCorrect.map { Double($0) / Double(max(imageCount, 1)) } }
    public var int8Accuracy: Double? { int8Correct.map { Double($0) / Double(max(imageCount, 1)) } }
    public var agreement: Double { Double(agreeing) / Double(max(imageCount, 1)) }
}
