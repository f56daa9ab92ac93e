/// Why training cannot start or go on: bad data, a configuration that cannot work, or a loss that
/// stopped being a number. Each case names what was wrong and where.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    /// The training or test data (images or labels) do not fit the model or each other.
    case invalidData(String)
    /// An option or combination of options that cannot work (a learning rate of NaN, batch 0, ...).
    case invalidConfiguration(String)
    /// The loss or a parameter became NaN or infinite, at this step.
    case diverged(step: Int, what: String)

    public var description: String {
        switch self {
        case .invalidData(let why): return "invalid training data: \(why)"
        case .invalidConfiguration(let why): return "invalid training configuration: \(why)"
        case .diverged(let step, let what): return "training diverged at step \(step): \(what)"
        }
    }
}
