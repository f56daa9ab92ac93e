/// How activation ranges are chosen from the calibration inputs.
///
/// - `minMax`: the full observed range; nothing is clipped, outliers stretch the scale.
/// - `percentile(P)`: clips the top and bottom (100 − P)% of the values (P = 99.99 by default).
/// - `entropy`: the KL-divergence threshold search of TensorRT's entropy calibrator and ncnn's
///   `method=kl`: the clipping threshold whose int8 histogram loses the least information.
/// - `mse`: the clipping whose int8 values have the least mean squared error against the float
///   ones (as TensorRT's and NNCF's MSE calibrators choose): rounding noise traded against clipping.
public enum CalibrationMethod: Sendable, Equatable, CustomStringConvertible {
    case minMax
    case percentile(Double)
    case entropy
    case mse

    public static let defaultPercentile = 99.99

    /// Parses `minmax`, `percentile`, `percentile:P` (50 < P ≤ 100), `entropy` or `mse`.
    public init(parsing text: String) throws(ConvertError) {
        let lowered = text.lowercased()
        switch lowered {
        case "minmax", "min-max": self = .minMax
        case "entropy", "kl": self = .entropy
        case "mse": self = .mse
        case "percentile": self = .percentile(Self.defaultPercentile)
        default:
            guard lowered.hasPrefix("percentile:") else {
                throw .invalidOption("unknown calibration method '\(text)': use minmax, percentile[:P] (e.g. percentile:99.99), entropy or mse")
            }
            let number = lowered.dropFirst("percentile:".count)
            guard let value = Double(number), value.isFinite, value > 50, value <= 100 else {
                throw .invalidOption("percentile '\(number)' must be a number in (50, 100], e.g. percentile:99.99")
            }
            self = .percentile(value)
        }
    }

    public var description: String {
        switch self {
        case .minMax: return "minmax"
        case .percentile(let value): return "percentile:\(Self.formatted(value))"
        case .entropy: return "entropy"
        case .mse: return "mse"
        }
    }

    /// 99.99 rather than 99.99000000000001: the shortest text that round-trips.
    static func formatted(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : "\(value)"
    }

    /// Whether the method needs a histogram (a second pass over the calibration inputs).
    var needsHistogram: Bool { self != .minMax }
}
