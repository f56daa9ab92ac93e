/// How conv weights are scaled to int8: one scale per output channel (the default, what TFLite
/// and ONNX Runtime recommend) or one for the whole tensor (for comparison).
public enum WeightGranularity: String, Sendable, CaseIterable, CustomStringConvertible {
    case perChannel = "per-channel"
    case perTensor = "per-tensor"

    public init(parsing text: String) throws(ConvertError) {
        guard let value = WeightGranularity(rawValue: text.lowercased()) else {
            throw .invalidOption("unknown weight quantization '\(text)': use per-channel or per-tensor")
        }
        self = value
    }

    public var description: String { rawValue }
}
