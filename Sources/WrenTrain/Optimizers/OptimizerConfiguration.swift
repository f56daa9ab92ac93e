/// Which update rule, with the hyperparameters only that rule has. Defaults are PyTorch's.
public enum OptimizerAlgorithm: Equatable, Sendable {
    /// `torch.optim.SGD(momentum=μ, dampening=0, nesterov=...)`. `momentum` 0 is plain SGD.
    case sgd(momentum: Double = 0, nesterov: Bool = false)
    /// `torch.optim.Adam` (coupled L2 weight decay: `g = grad + wd·p`), amsgrad off.
    case adam(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8)
    /// `torch.optim.AdamW` (decoupled weight decay: `p ← p·(1 − lr·wd)` before the Adam step).
    case adamW(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8)

    /// The CLI's name: `sgd`, `adam` or `adamw`.
    public var name: String {
        switch self {
        case .sgd: return "sgd"
        case .adam: return "adam"
        case .adamW: return "adamw"
        }
    }
}

/// Which parameters weight decay applies to.
public enum WeightDecayScope: Equatable, Sendable {
    /// Every parameter, as a single PyTorch parameter group does (PyTorch's default).
    case allParameters
    /// Only parameters of rank ≥ 2 — convolution kernels `[O, I, kh, kw]` and linear weights
    /// `[O, I]`; BatchNorm γ/β and biases (rank 1) get weight decay 0. The same as PyTorch with
    /// two groups, `[{"params": [p for p if p.dim() >= 2]}, {"params": rest, "weight_decay": 0}]`.
    case convolutionAndLinearWeights
}

/// One trainable tensor as the optimizer sees it: a name (for messages) and a shape; its values
/// are a contiguous row-major `[Float]` buffer of `elementCount` elements owned by the caller.
public struct ParameterSpec: Equatable, Sendable {
    public var name: String
    public var shape: [Int]

    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }

    /// The product of the extents, or nil if one is negative or the product overflows.
    public var elementCount: Int? {
        var count = 1
        for extent in shape {
            guard extent >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            if overflow { return nil }
            count = product
        }
        return count
    }
}

/// Everything an optimizer needs besides the parameters. The learning rate is the starting one; a
/// schedule changes `Optimizer.learningRate` between epochs.
public struct OptimizerConfiguration: Equatable, Sendable {
    public var algorithm: OptimizerAlgorithm
    public var learningRate: Double
    public var weightDecay: Double
    public var weightDecayScope: WeightDecayScope

    public init(algorithm: OptimizerAlgorithm, learningRate: Double, weightDecay: Double = 0, weightDecayScope: WeightDecayScope = .allParameters) {
        self.algorithm = algorithm
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.weightDecayScope = weightDecayScope
    }

    /// `torch.optim.SGD(lr, momentum, nesterov=..., weight_decay)`.
    public static func sgd(learningRate: Double, momentum: Double = 0, nesterov: Bool = false, weightDecay: Double = 0, weightDecayScope: WeightDecayScope = .allParameters) -> Self {
        Self(algorithm: .sgd(momentum: momentum, nesterov: nesterov), learningRate: learningRate, weightDecay: weightDecay, weightDecayScope: weightDecayScope)
    }

    /// `torch.optim.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)`.
    public static func adam(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0, weightDecayScope: WeightDecayScope = .allParameters) -> Self {
        Self(algorithm: .adam(beta1: beta1, beta2: beta2, epsilon: epsilon), learningRate: learningRate, weightDecay: weightDecay, weightDecayScope: weightDecayScope)
    }

    /// `torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)`.
    public static func adamW(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01, weightDecayScope: WeightDecayScope = .allParameters) -> Self {
        Self(algorithm: .adamW(beta1: beta1, beta2: beta2, epsilon: epsilon), learningRate: learningRate, weightDecay: weightDecay, weightDecayScope: weightDecayScope)
    }

    /// The checks PyTorch's constructors make, plus finiteness (PyTorch accepts an infinite lr).
    /// Each message names the CLI option it comes from.
    public func validate() throws(TrainingError) {
        guard learningRate.isFinite, learningRate >= 0 else {
            throw .invalidConfiguration("learning rate (--lr) is \(learningRate); it must be a finite number ≥ 0")
        }
        guard weightDecay.isFinite, weightDecay >= 0 else {
            throw .invalidConfiguration("weight decay (--weight-decay) is \(weightDecay); it must be a finite number ≥ 0")
        }
        switch algorithm {
        case .sgd(let momentum, let nesterov):
            guard momentum.isFinite, momentum >= 0 else {
                throw .invalidConfiguration("momentum (--momentum) is \(momentum); it must be a finite number ≥ 0")
            }
            guard !nesterov || momentum > 0 else {
                throw .invalidConfiguration("--nesterov needs a momentum > 0 (--momentum, e.g. 0.9)")
            }
        case .adam(let beta1, let beta2, let epsilon), .adamW(let beta1, let beta2, let epsilon):
            guard beta1 >= 0, beta1 < 1 else {
                throw .invalidConfiguration("\(algorithm.name): beta1 is \(beta1); it must be in [0, 1)")
            }
            guard beta2 >= 0, beta2 < 1 else {
                throw .invalidConfiguration("\(algorithm.name): beta2 is \(beta2); it must be in [0, 1)")
            }
            guard epsilon.isFinite, epsilon >= 0 else {
                throw .invalidConfiguration("\(algorithm.name): epsilon is \(epsilon); it must be a finite number ≥ 0")
            }
        }
    }

    /// The weight decay `parameter` gets under `weightDecayScope`.
    public func weightDecay(for parameter: ParameterSpec) -> Double {
        switch weightDecayScope {
        case .allParameters: return weightDecay
        case .convolutionAndLinearWeights: return parameter.shape.count >= 2 ? weightDecay : 0
        }
    }
}
