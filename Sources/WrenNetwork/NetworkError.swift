/// Why a checkpoint's tensors do not make a Wide Residual Network, or an input does not fit it.
public enum NetworkError: Error, Equatable, CustomStringConvertible {
    /// A tensor the architecture needs is absent.
    case missingTensor(key: String)
    /// A tensor has a shape other than the architecture requires.
    case shapeMismatch(key: String, expected: [Int], found: [Int])
    /// The tensors do not describe a WRN this reference can run.
    case unsupportedArchitecture(String)
    /// The input buffer does not fit `[batch, 3, height, width]` or holds non-finite values.
    case invalidInput(String)

    public var description: String {
        switch self {
        case .missingTensor(let key):
            return "missing tensor '\(key)'"
        case .shapeMismatch(let key, let expected, let found):
            return "tensor '\(key)' has shape \(found), expected \(expected)"
        case .unsupportedArchitecture(let why):
            return "unsupported architecture: \(why)"
        case .invalidInput(let why):
            return "invalid input: \(why)"
        }
    }
}
