/// Why a conversion could not produce a `.wren` file.
public enum ConvertError: Error, CustomStringConvertible {
    /// Calibration data does not fit the model (shape, count, non-finite values).
    case invalidCalibration(String)
    /// A value cannot be represented in the int8 format (names the layer and channel).
    case unrepresentable(layer: String, reason: String)
    /// An option is out of range.
    case invalidOption(String)

    public var description: String {
        switch self {
        case .invalidCalibration(let why): return "invalid calibration data: \(why)"
        case .unrepresentable(let layer, let why): return "cannot quantize \(layer): \(why)"
        case .invalidOption(let why): return why
        }
    }
}
