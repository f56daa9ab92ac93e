/// SGD, Adam or AdamW over caller-owned float32 parameter buffers, with PyTorch's semantics and
/// float32 rounding (see `TorchOps` for what "PyTorch's rounding" is, and the one place it is not
/// reproduced).
///
/// Setup validates the configuration and sizes all state once: one arena of
/// `stateElementCount` floats (none for plain SGD, one buffer per parameter with momentum, two
/// with Adam/AdamW). An update allocates nothing and cannot fail; it makes one pass over the
/// parameter, its gradient and its state, computing per element what `OptimizerReference` (the
/// line-by-line PyTorch transcription) computes tensor by tensor, with the same roundings.
///
/// Each parameter keeps its own step count, as PyTorch's per-parameter `state["step"]`: a
/// parameter that is not updated in a step (PyTorch skips parameters whose grad is None) keeps
/// its count, and SGD's momentum buffer starts as a copy of the parameter's first gradient.
///
/// Training loop:
///
///     var optimizer = try Optimizer(.sgd(learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4),
///                                   parameters: specs)
///     for epoch in 0..<epochs {
///         optimizer.learningRate = scheduler.learningRate
///         for batch in batches {
///             ... forward, backward into gradients ...
///             optimizer.step(parameters: &weights, gradients: gradients)
///         }
///         scheduler.step()
///     }
///
/// Copying an `Optimizer` copies its state (on the first update after the copy).
public struct Optimizer: Sendable {
    public let configuration: OptimizerConfiguration
    public let parameters: [ParameterSpec]
    /// The learning rate the next updates use; a schedule sets it between epochs.
    public var learningRate: Double
    /// Per parameter, the weight decay it gets under the configuration's scope.
    public let weightDecays: [Double]
    /// Per parameter, the number of updates it has had (PyTorch's `state["step"]`).
    public private(set) var stepCounts: [Int]

    private let counts: [Int]
    private let stateOffsets: [Int]
    private let slotsPerParameter: Int
    private var state: [Float]
    /// One step's per-parameter updates; its capacity is reserved once, so a step allocates nothing.
    private var plans: [ParameterUpdate] = []

    /// The optimizer state buffers, named as PyTorch's state keys.
    public enum StateBuffer: String, Sendable, CaseIterable {
        /// SGD with momentum: `momentum_buffer`.
        case momentumBuffer = "momentum_buffer"
        /// Adam/AdamW first moment: `exp_avg`.
        case expAvg = "exp_avg"
        /// Adam/AdamW second moment: `exp_avg_sq`.
        case expAvgSq = "exp_avg_sq"
    }

    /// Validates the configuration and the parameters (non-empty list, unique non-empty names,
    /// valid shapes) and sizes the state.
    public init(_ configuration: OptimizerConfiguration, parameters: [ParameterSpec]) throws(TrainingError) {
        try configuration.validate()
        guard !parameters.isEmpty else { throw .invalidConfiguration("the optimizer got an empty parameter list") }
        var counts: [Int] = []
        var names = Set<String>()
        for parameter in parameters {
            guard !parameter.name.isEmpty else { throw .invalidConfiguration("a parameter has an empty name") }
            guard names.insert(parameter.name).inserted else {
                throw .invalidConfiguration("parameter '\(parameter.name)' is listed twice")
            }
            guard let count = parameter.elementCount else {
                throw .invalidConfiguration("parameter '\(parameter.name)' has shape \(parameter.shape), whose element count is negative or overflows")
            }
            counts.append(count)
        }
        let slots: Int
        switch configuration.algorithm {
        case .sgd(let momentum, _): slots = momentum != 0 ? 1 : 0
        case .adam, .adamW: slots = 2
        }
        var offsets: [Int] = []
        var total = 0
        for (parameter, count) in zip(parameters, counts) {
            offsets.append(total)
            let (size, overflow1) = count.multipliedReportingOverflow(by: slots)
            let (sum, overflow2) = total.addingReportingOverflow(size)
            guard !overflow1, !overflow2 else {
                throw .invalidConfiguration("optimizer state for '\(parameter.name)' overflows the address space")
            }
            total = sum
        }
        self.configuration = configuration
        self.parameters = parameters
        self.learningRate = configuration.learningRate
        self.weightDecays = parameters.map { configuration.weightDecay(for: $0) }
        self.stepCounts = Array(repeating: 0, count: parameters.count)
        self.counts = counts
        self.stateOffsets = offsets
        self.slotsPerParameter = slots
        self.state = Array(repeating: 0, count: total)
        plans.reserveCapacity(parameters.count)
    }

    /// Floats of optimizer state, allocated once at setup.
    public var stateElementCount: Int { state.count }

    /// All of the optimizer's state, for a resumable checkpoint: the per-parameter step counts and
    /// the state arena (per parameter in order, `slotsPerParameter` buffers of its element count
    /// each: `momentum_buffer`, or `exp_avg` then `exp_avg_sq`).
    public struct Snapshot: Equatable, Sendable {
        public var stepCounts: [Int]
        public var state: [Float]

        public init(stepCounts: [Int], state: [Float]) {
            self.stepCounts = stepCounts
            self.state = state
        }
    }

    public var snapshot: Snapshot { Snapshot(stepCounts: stepCounts, state: state) }

    /// Puts back a `snapshot` of an optimizer of the same configuration and parameters.
    public mutating func restore(_ snapshot: Snapshot) throws(TrainingError) {
        guard snapshot.stepCounts.count == counts.count, snapshot.state.count == state.count else {
            throw .invalidData("optimizer state of \(snapshot.stepCounts.count) parameters and \(snapshot.state.count) values; "
                               + "\(configuration.algorithm.name) over these \(counts.count) parameters keeps \(state.count)")
        }
        guard snapshot.stepCounts.allSatisfy({ $0 >= 0 }) else { throw .invalidData("optimizer step counts below 0") }
        if let bad = snapshot.state.firstIndex(where: { !$0.isFinite }) {
            throw .invalidData("optimizer state value \(bad) is \(snapshot.state[bad])")
        }
        stepCounts = snapshot.stepCounts
        state = snapshot.state
    }

    /// A copy of one state buffer of one parameter, or nil if the algorithm has no such buffer or
    /// (momentum) it does not exist yet because the parameter has not been updated.
    public func stateBuffer(_ buffer: StateBuffer, parameterAt index: Int) -> [Float]? {
        precondition(index >= 0 && index < counts.count, "stateBuffer: parameter index \(index) out of 0..<\(counts.count)")
        let slot: Int
        switch (configuration.algorithm, buffer) {
        case (.sgd, .momentumBuffer) where slotsPerParameter == 1 && stepCounts[index] > 0: slot = 0
        case (.adam, .expAvg), (.adamW, .expAvg): slot = 0
        case (.adam, .expAvgSq), (.adamW, .expAvgSq): slot = 1
        default: return nil
        }
        let start = stateOffsets[index] + slot * counts[index]
        return Array(state[start..<(start + counts[index])])
    }

    /// Updates every parameter from its gradient (parameter `i` is `parameters[i]`).
    public mutating func step(parameters values: inout [[Float]], gradients: [[Float]]) {
        precondition(values.count == counts.count && gradients.count == counts.count,
                     "step: \(values.count) parameter and \(gradients.count) gradient buffers for \(counts.count) parameters")
        for index in 0..<counts.count {
            values[index].withUnsafeMutableBufferPointer { parameter in
                gradients[index].withUnsafeBufferPointer { gradient in
                    update(parameterAt: index, values: parameter, gradient: gradient)
                }
            }
        }
    }

    /// Updates every parameter from its gradient, over buffers the caller keeps (build the two
    /// arrays once; passing them allocates nothing). With a `team`, its members share each
    /// parameter's elements: the updates are element by element, so the result is the same for
    /// any team.
    public mutating func step(parameters values: [UnsafeMutableBufferPointer<Float>], gradients: [UnsafeBufferPointer<Float>],
                              team: ThreadTeam = .single) {
        precondition(values.count == counts.count && gradients.count == counts.count,
                     "step: \(values.count) parameter and \(gradients.count) gradient buffers for \(counts.count) parameters")
        plans.removeAll(keepingCapacity: true)
        for index in 0..<counts.count {
            if let plan = advance(parameterAt: index, values: values[index], gradient: gradients[index]) { plans.append(plan) }
        }
        let algorithm = configuration.algorithm, learningRate = learningRate
        plans.withUnsafeBufferPointer { plans in
            state.withUnsafeMutableBufferPointer { arena in
                let job = StepJob(plans: plans.baseAddress!, count: plans.count, algorithm: algorithm, learningRate: learningRate,
                                  state: arena.baseAddress, team: team)
                team.run({ job, member in
                    let job = job.assumingMemoryBound(to: StepJob.self).pointee
                    for plan in UnsafeBufferPointer(start: job.plans, count: job.count) {
                        Optimizer.apply(plan, algorithm: job.algorithm, learningRate: job.learningRate, state: job.state,
                                        elements: job.team.share(of: plan.count, member: member))
                    }
                }, with: job)
            }
        }
    }

    /// Updates one parameter from its gradient and advances that parameter's step count. Both
    /// buffers must hold exactly the parameter's element count (a mismatch is a programming
    /// error and traps) and must not overlap.
    public mutating func update(parameterAt index: Int, values: UnsafeMutableBufferPointer<Float>, gradient: UnsafeBufferPointer<Float>) {
        guard let plan = advance(parameterAt: index, values: values, gradient: gradient) else { return }
        let algorithm = configuration.algorithm, learningRate = learningRate
        state.withUnsafeMutableBufferPointer { arena in
            Self.apply(plan, algorithm: algorithm, learningRate: learningRate, state: arena.baseAddress, elements: 0..<plan.count)
        }
    }

    /// One parameter's update at the current step, as `apply` runs it on any slice of its elements.
    /// (Sendable because it lives in `Optimizer`; it points at the caller's buffers only during a step.)
    private struct ParameterUpdate: @unchecked Sendable {
        var values: UnsafeMutablePointer<Float>
        var gradient: UnsafePointer<Float>
        var count: Int
        /// Where the parameter's state starts in the arena.
        var stateOffset: Int
        var hasState: Bool
        var step: Int
        var firstStep: Bool
        var weightDecay: Double
    }

    private struct StepJob {
        let plans: UnsafePointer<ParameterUpdate>
        let count: Int
        let algorithm: OptimizerAlgorithm
        let learningRate: Double
        let state: UnsafeMutablePointer<Float>?
        let team: ThreadTeam
    }

    /// Checks one parameter's buffers and advances its step count; nil when it has no elements.
    private mutating func advance(parameterAt index: Int, values: UnsafeMutableBufferPointer<Float>,
                                  gradient: UnsafeBufferPointer<Float>) -> ParameterUpdate? {
        precondition(index >= 0 && index < counts.count, "update: parameter index \(index) out of 0..<\(counts.count)")
        let count = counts[index]
        precondition(values.count == count && gradient.count == count,
                     "update '\(parameters[index].name)': \(values.count) values and \(gradient.count) gradients, expected \(count)")
        let firstStep = stepCounts[index] == 0
        stepCounts[index] += 1
        guard count > 0 else { return nil }
        return ParameterUpdate(values: values.baseAddress!, gradient: gradient.baseAddress!, count: count, stateOffset: stateOffsets[index],
                               hasState: slotsPerParameter > 0, step: stepCounts[index], firstStep: firstStep,
                               weightDecay: weightDecays[index])
    }

    /// `plan`'s update of `elements` (state slot `k` of element `i` is `state[offset + k·count + i]`).
    private static func apply(_ plan: ParameterUpdate, algorithm: OptimizerAlgorithm, learningRate lr: Double,
                              state: UnsafeMutablePointer<Float>?, elements: Range<Int>) {
        guard !elements.isEmpty else { return }
        let p = plan.values + elements.lowerBound, g = plan.gradient + elements.lowerBound
        let slot = plan.hasState ? state! + plan.stateOffset + elements.lowerBound : nil
        switch algorithm {
        case .sgd(let momentum, let nesterov):
            FusedUpdate.sgd(values: p, gradient: g, momentumBuffer: slot, count: elements.count, learningRate: lr,
                            weightDecay: plan.weightDecay, momentum: momentum, nesterov: nesterov, firstStep: plan.firstStep)
        case .adam(let beta1, let beta2, let epsilon), .adamW(let beta1, let beta2, let epsilon):
            let decoupled: Bool
            if case .adamW = algorithm { decoupled = true } else { decoupled = false }
            FusedUpdate.adam(values: p, gradient: g, expAvg: slot!, expAvgSq: slot! + plan.count, count: elements.count, step: plan.step,
                             learningRate: lr, weightDecay: plan.weightDecay, beta1: beta1, beta2: beta2, epsilon: epsilon,
                             decoupled: decoupled)
        }
    }
}

/// The one-pass update loops. Every rounding is `OptimizerReference`'s, element by element.
enum FusedUpdate {
    static func sgd(
        values p: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, momentumBuffer buffer: UnsafeMutablePointer<Float>?,
        count: Int, learningRate: Double, weightDecay: Double, momentum: Double, nesterov: Bool, firstStep: Bool
    ) {
        let negativeLR = Float(-learningRate)
        let decay = Float(weightDecay)
        let mu = Float(momentum)
        let decays = weightDecay != 0
        guard let buffer else {
            for i in 0..<count {
                var g = gradient[i]
                if decays { g = g.addingProduct(p[i], decay) }
                p[i] = p[i].addingProduct(g, negativeLR)
            }
            return
        }
        for i in 0..<count {
            var g = gradient[i]
            if decays { g = g.addingProduct(p[i], decay) }
            let b = firstStep ? g : buffer[i] * mu + g
            buffer[i] = b
            g = nesterov ? g.addingProduct(b, mu) : b
            p[i] = p[i].addingProduct(g, negativeLR)
        }
    }

    static func adam(
        values p: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, expAvg: UnsafeMutablePointer<Float>,
        expAvgSq: UnsafeMutablePointer<Float>, count: Int, step: Int, learningRate lr: Double, weightDecay: Double,
        beta1: Double, beta2: Double, epsilon: Double, decoupled: Bool
    ) {
        let biasCorrection1 = 1 - TorchOps.power(beta1, Double(step))
        let biasCorrection2 = 1 - TorchOps.power(beta2, Double(step))
        let negativeStepSize = Float(-(lr / biasCorrection1))
        let biasCorrection2Sqrt = Float(TorchOps.power(biasCorrection2, 0.5))
        let eps = Float(epsilon)
        let shrink = Float(1 - lr * weightDecay)
        let decay = Float(weightDecay)
        let coupled = weightDecay != 0 && !decoupled
        let shrinks = weightDecay != 0 && decoupled
        let weight1 = Float(1 - beta1)
        let b2 = Float(beta2)
        let weight2 = Float(1 - beta2)
        for i in 0..<count {
            var value = p[i]
            var g = gradient[i]
            if shrinks { value = value * shrink }
            if coupled { g = g.addingProduct(value, decay) }
            let m = TorchOps.lerp(expAvg[i], g, weight1)
            let v = (expAvgSq[i] * b2).addingProduct(weight2 * g, g)
            expAvg[i] = m
            expAvgSq[i] = v
            let denominator = v.squareRoot() / biasCorrection2Sqrt + eps
            p[i] = value + (negativeStepSize * m) / denominator
        }
    }
}
