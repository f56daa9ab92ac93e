import AllocationCounter
import Testing
@testable import WrenTrain
import WrenTestSupport

/// The fused optimizer against the readable reference on random data, its setup checks, its
/// per-parameter bookkeeping and its promise not to allocate per step.
@Suite struct OptimizerTests {
    static let configurations: [(name: String, configuration: OptimizerConfiguration)] = [
        ("sgd", .sgd(learningRate: 0.1)),
        ("sgd wd", .sgd(learningRate: 0.05, weightDecay: 1e-2)),
        ("sgd momentum wd", .sgd(learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4)),
        ("sgd nesterov wd weights", .sgd(learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 5e-4, weightDecayScope: .convolutionAndLinearWeights)),
        ("adam", .adam()),
        ("adam wd beta1 0.3", .adam(learningRate: 2e-3, beta1: 0.3, beta2: 0.9, epsilon: 1e-6, weightDecay: 1e-2)),
        ("adamw", .adamW()),
        ("adamw wd 0.05 weights", .adamW(learningRate: 3e-3, weightDecay: 0.05, weightDecayScope: .convolutionAndLinearWeights)),
    ]

    /// Sizes around torch's and any SIMD width, including empty and one-element tensors.
    static let shapes: [[Int]] = [[0], [1], [15], [4, 4], [17], [3, 11], [8, 5, 5, 5], [7]]

    static func specs() -> [ParameterSpec] {
        shapes.enumerated().map { ParameterSpec(name: "p\($0.offset)", shape: $0.element) }
    }

    static func random(_ count: Int, scale: Float, _ generator: inout SplitMix64) -> [Float] {
        (0..<count).map { _ in scale * Float.random(in: -1...1, using: &generator) }
    }

    @Test func fusedIsBitIdenticalToTheReferenceOnRandomData() throws {
        let specs = Self.specs()
        var generator = SplitMix64(seed: 0x0071_1D00)
        let initial = specs.map { Self.random($0.elementCount!, scale: 0.5, &generator) }
        let gradients = (0..<6).map { step in specs.map { Self.random($0.elementCount!, scale: step == 3 ? 1e-7 : 0.05, &generator) } }
        let lrs = [1.0, 1.0, 0.5, 0.5, 0.2, 0.1]
        for (name, configuration) in Self.configurations {
            let testCase = OptimizerCase(
                name: name, configuration: configuration, learningRates: lrs.map { $0 * configuration.learningRate },
                float32Trajectory: [], float32State: [:], float64Parameters: [], float64State: [:])
            let fused = try runFused(testCase, specs: specs, initial: initial, gradients: gradients)
            let reference = runReference(testCase, specs: specs, initial: initial, gradients: gradients)
            for step in gradients.indices {
                #expect(fused.trajectory[step].map { $0.map(\.bitPattern) } == reference.trajectory[step].map { $0.map(\.bitPattern) },
                        "\(name): parameters differ after step \(step + 1)")
            }
            #expect(fused.state.mapValues { $0.map { $0.map(\.bitPattern) } } == reference.state.mapValues { $0.map { $0.map(\.bitPattern) } }, "\(name)")
            #expect(fused.trajectory.last! != initial, "\(name): nothing moved")
        }
    }

    @Test func bothStepFormsAgree() throws {
        let specs = Self.specs()
        var generator = SplitMix64(seed: 42)
        let initial = specs.map { Self.random($0.elementCount!, scale: 0.5, &generator) }
        let gradients = specs.map { Self.random($0.elementCount!, scale: 0.05, &generator) }
        var arrays = try Optimizer(.adamW(weightDecay: 0.1), parameters: specs)
        var pointers = arrays
        var viaArrays = initial
        arrays.step(parameters: &viaArrays, gradients: gradients)
        arrays.step(parameters: &viaArrays, gradients: gradients)

        let buffers = initial.map { values -> UnsafeMutableBufferPointer<Float> in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
            _ = buffer.initialize(from: values)
            return buffer
        }
        let gradientBuffers = gradients.map { values -> UnsafeMutableBufferPointer<Float> in
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
            _ = buffer.initialize(from: values)
            return buffer
        }
        defer { (buffers + gradientBuffers).forEach { $0.deallocate() } }
        let readOnly = gradientBuffers.map { UnsafeBufferPointer($0) }
        pointers.step(parameters: buffers, gradients: readOnly)
        pointers.step(parameters: buffers, gradients: readOnly)
        #expect(buffers.map { Array($0).map(\.bitPattern) } == viaArrays.map { $0.map(\.bitPattern) })
        #expect(pointers.stepCounts == Array(repeating: 2, count: specs.count))
    }

    /// A team's members share each parameter's elements; every configuration gives the single
    /// thread's bits, and stepping allocates nothing.
    @Test func teamStepsAreBitIdentical() throws {
        let specs = Self.specs()
        var generator = SplitMix64(seed: 43)
        let initial = specs.map { Self.random($0.elementCount!, scale: 0.5, &generator) }
        let gradients = specs.map { Self.random($0.elementCount!, scale: 0.05, &generator) }
        let team = try ThreadTeam(count: 3)
        for (name, configuration) in Self.configurations {
            var single = try Optimizer(configuration, parameters: specs)
            var shared = single
            var expected = initial
            for _ in 0..<3 { single.step(parameters: &expected, gradients: gradients) }
            let buffers = initial.map { values -> UnsafeMutableBufferPointer<Float> in
                let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
                _ = buffer.initialize(from: values)
                return buffer
            }
            let gradientBuffers = gradients.map { values -> UnsafeMutableBufferPointer<Float> in
                let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: values.count)
                _ = buffer.initialize(from: values)
                return buffer
            }
            defer { (buffers + gradientBuffers).forEach { $0.deallocate() } }
            let readOnly = gradientBuffers.map { UnsafeBufferPointer($0) }
            shared.step(parameters: buffers, gradients: readOnly, team: team)
            let before = wren_thread_allocation_count()
            shared.step(parameters: buffers, gradients: readOnly, team: team)
            shared.step(parameters: buffers, gradients: readOnly, team: team)
            #expect(wren_thread_allocation_count() == before, "\(name): team steps allocated")
            #expect(buffers.map { Array($0).map(\.bitPattern) } == expected.map { $0.map(\.bitPattern) }, "\(name)")
            #expect(shared.stepCounts == single.stepCounts)
        }
    }

    /// A parameter left out of a step keeps its step count and state, as PyTorch skips a
    /// parameter whose grad is None: its Adam bias correction and its first momentum buffer
    /// follow its own updates.
    @Test func skippedParametersKeepTheirOwnStepCount() throws {
        let specs = [ParameterSpec(name: "a", shape: [5]), ParameterSpec(name: "b", shape: [3])]
        var generator = SplitMix64(seed: 7)
        let start = specs.map { Self.random($0.elementCount!, scale: 0.5, &generator) }
        let gradients = (0..<4).map { _ in specs.map { Self.random($0.elementCount!, scale: 0.1, &generator) } }
        let updatesOfB = [1, 3]  // b gets gradients in steps 1 and 3 only (0-based)

        for configuration in [OptimizerConfiguration.adam(learningRate: 0.01), .sgd(learningRate: 0.1, momentum: 0.9)] {
            var optimizer = try Optimizer(configuration, parameters: specs)
            var values = start
            for step in 0..<4 {
                for index in specs.indices where index == 0 || updatesOfB.contains(step) {
                    values[index].withUnsafeMutableBufferPointer { parameter in
                        gradients[step][index].withUnsafeBufferPointer { optimizer.update(parameterAt: index, values: parameter, gradient: $0) }
                    }
                }
            }
            #expect(optimizer.stepCounts == [4, 2])

            var b = start[1]
            var expAvg = [Float](repeating: 0, count: 3)
            var expAvgSq = expAvg
            var count = 0
            var buffer: [Float]? = nil
            for step in updatesOfB {
                switch configuration.algorithm {
                case .adam(let beta1, let beta2, let epsilon):
                    OptimizerReference.adamStep(parameter: &b, gradient: gradients[step][1], expAvg: &expAvg, expAvgSq: &expAvgSq, step: &count,
                                                learningRate: 0.01, weightDecay: 0, beta1: beta1, beta2: beta2, epsilon: epsilon, decoupled: false)
                default:
                    OptimizerReference.sgdStep(parameter: &b, gradient: gradients[step][1], momentumBuffer: &buffer,
                                               learningRate: 0.1, weightDecay: 0, momentum: 0.9, nesterov: false)
                }
            }
            #expect(values[1].map(\.bitPattern) == b.map(\.bitPattern), "\(configuration.algorithm.name)")
            if buffer != nil { #expect(optimizer.stateBuffer(.momentumBuffer, parameterAt: 1) == buffer) }
        }
    }

    @Test func stateIsSizedAtSetup() throws {
        let specs = Self.specs()
        let total = specs.reduce(0) { $0 + $1.elementCount! }
        #expect(try Optimizer(.sgd(learningRate: 0.1), parameters: specs).stateElementCount == 0)
        #expect(try Optimizer(.sgd(learningRate: 0.1, momentum: 0.9), parameters: specs).stateElementCount == total)
        #expect(try Optimizer(.adam(), parameters: specs).stateElementCount == 2 * total)
        #expect(try Optimizer(.adamW(), parameters: specs).stateElementCount == 2 * total)

        var sgd = try Optimizer(.sgd(learningRate: 0.1, momentum: 0.9), parameters: [ParameterSpec(name: "w", shape: [2])])
        #expect(sgd.stateBuffer(.momentumBuffer, parameterAt: 0) == nil, "PyTorch has no momentum_buffer before the first step")
        var w: [[Float]] = [[1, 2]]
        sgd.step(parameters: &w, gradients: [[0.5, -0.25]])
        #expect(sgd.stateBuffer(.momentumBuffer, parameterAt: 0) == [0.5, -0.25], "the first buffer is the gradient itself")
        #expect(sgd.stateBuffer(.expAvg, parameterAt: 0) == nil)
        #expect(try Optimizer(.adam(), parameters: specs).stateBuffer(.momentumBuffer, parameterAt: 1) == nil)
    }

    @Test func weightDecayScope() throws {
        let specs = [ParameterSpec(name: "conv1.weight", shape: [16, 3, 3, 3]), ParameterSpec(name: "bn1.weight", shape: [16]),
                     ParameterSpec(name: "bn1.bias", shape: [16]), ParameterSpec(name: "conv1.bias", shape: [16]),
                     ParameterSpec(name: "fc.weight", shape: [10, 64]), ParameterSpec(name: "fc.bias", shape: [10])]
        #expect(try Optimizer(.sgd(learningRate: 0.1, weightDecay: 5e-4), parameters: specs).weightDecays == Array(repeating: 5e-4, count: 6))
        #expect(try Optimizer(.sgd(learningRate: 0.1, weightDecay: 5e-4, weightDecayScope: .convolutionAndLinearWeights), parameters: specs).weightDecays
                == [5e-4, 0, 0, 0, 5e-4, 0])
        #expect(try Optimizer(.adamW(), parameters: specs).weightDecays.allSatisfy { $0 == 0.01 }, "AdamW's default weight decay is PyTorch's 0.01")
        #expect(try Optimizer(.adam(), parameters: specs).weightDecays.allSatisfy { $0 == 0 })
    }

    /// Each refusal names the option and the value.
    @Test(arguments: [
        (OptimizerConfiguration.sgd(learningRate: -0.1), "learning rate (--lr) is -0.1; it must be a finite number ≥ 0"),
        (.sgd(learningRate: .nan), "learning rate (--lr) is nan; it must be a finite number ≥ 0"),
        (.sgd(learningRate: .infinity), "learning rate (--lr) is inf; it must be a finite number ≥ 0"),
        (.sgd(learningRate: 0.1, momentum: -0.9), "momentum (--momentum) is -0.9; it must be a finite number ≥ 0"),
        (.sgd(learningRate: 0.1, nesterov: true), "--nesterov needs a momentum > 0 (--momentum, e.g. 0.9)"),
        (.sgd(learningRate: 0.1, weightDecay: -1e-4), "weight decay (--weight-decay) is -0.0001; it must be a finite number ≥ 0"),
        (.adam(beta1: 1), "adam: beta1 is 1.0; it must be in [0, 1)"),
        (.adamW(beta2: -0.5), "adamw: beta2 is -0.5; it must be in [0, 1)"),
        (.adam(epsilon: -1e-8), "adam: epsilon is -1e-08; it must be a finite number ≥ 0"),
    ])
    func invalidConfigurationsAreRefused(_ configuration: OptimizerConfiguration, _ message: String) {
        #expect(throws: TrainingError.invalidConfiguration(message)) {
            _ = try Optimizer(configuration, parameters: [ParameterSpec(name: "w", shape: [1])])
        }
    }

    @Test func invalidParameterListsAreRefused() {
        let sgd = OptimizerConfiguration.sgd(learningRate: 0.1)
        #expect(throws: TrainingError.invalidConfiguration("the optimizer got an empty parameter list")) {
            _ = try Optimizer(sgd, parameters: [])
        }
        #expect(throws: TrainingError.invalidConfiguration("parameter 'w' is listed twice")) {
            _ = try Optimizer(sgd, parameters: [ParameterSpec(name: "w", shape: [1]), ParameterSpec(name: "w", shape: [2])])
        }
        #expect(throws: TrainingError.invalidConfiguration("parameter 'w' has shape [2, -1], whose element count is negative or overflows")) {
            _ = try Optimizer(sgd, parameters: [ParameterSpec(name: "w", shape: [2, -1])])
        }
        #expect(throws: TrainingError.invalidConfiguration("parameter 'w' has shape [4611686018427387904, 4], whose element count is negative or overflows")) {
            _ = try Optimizer(sgd, parameters: [ParameterSpec(name: "w", shape: [1 << 62, 4])])
        }
        #expect(throws: TrainingError.invalidConfiguration("a parameter has an empty name")) {
            _ = try Optimizer(sgd, parameters: [ParameterSpec(name: "", shape: [1])])
        }
    }

    /// Steps allocate nothing: all state is sized at setup (counted by interposing malloc for
    /// this thread, Tests/AllocationCounter).
    @Test func stepsAllocateNothing() throws {
        let probeBefore = wren_thread_allocation_count()
        let probe = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 64)
        probe.deallocate()
        #expect(wren_thread_allocation_count() > probeBefore, "the allocation counter is not interposing malloc")

        let specs = Self.specs()
        var generator = SplitMix64(seed: 3)
        let gradients = specs.map { Self.random($0.elementCount!, scale: 0.05, &generator) }
        for (name, configuration) in Self.configurations {
            var optimizer = try Optimizer(configuration, parameters: specs)
            var values = specs.map { Self.random($0.elementCount!, scale: 0.5, &generator) }
            let before = wren_thread_allocation_count()
            for _ in 0..<4 {  // the first step too (momentum buffers start from the gradients)
                optimizer.step(parameters: &values, gradients: gradients)
                optimizer.learningRate *= 0.5
            }
            let allocations = wren_thread_allocation_count() - before
            #expect(allocations == 0, "\(name): 4 steps allocated \(allocations) times")
            #expect(optimizer.stepCounts.allSatisfy { $0 == 4 })
        }
    }
}
