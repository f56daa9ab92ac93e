import WrenNetwork

/// A Wide Residual Network in training mode, assembled from the layers by walking the one WRN
/// description (`WRNArchitecture.blocks`, `stateDictEntries`), so its modules, their shapes and
/// their PyTorch key names are the ones the importers and the float reference use.
///
/// Every buffer is allocated here, once, for `maxBatch` images of `inputHeight` × `inputWidth`;
/// a step at any batch up to that allocates nothing. What backward needs of the forward pass is
/// each block's activations (bn1's output, conv1's output, bn2's output, the block output), which
/// the blocks keep; the gradients flowing down the residual stream, and a block's inner gradients,
/// live in buffers every block shares, because backward visits one block at a time.
public final class TrainingNetwork {
    public let architecture: WRNArchitecture
    public let inputHeight: Int
    public let inputWidth: Int
    public let maxBatch: Int
    public let team: ThreadTeam

    let stem: ConvolutionLayer
    let blocks: [TrainingBlock]
    let finalNorm: BatchNormReLULayer
    let pool: GlobalAveragePoolLayer
    let classifier: LinearLayer
    public var loss: SoftmaxCrossEntropyLoss

    /// The batch in CNHW, transposed from the caller's NCHW.
    let input: TrainingBuffer
    let stemOutput: TrainingBuffer
    let finalActivation: TrainingBuffer
    let features: TrainingBuffer
    public let logits: TrainingBuffer
    let logitGradient: TrainingBuffer
    let featureGradient: TrainingBuffer
    /// The residual stream's gradient, ping-ponged between blocks (each block reads one, writes the other).
    let streamGradients: (TrainingBuffer, TrainingBuffer)
    let shared: TrainingBlock.SharedBuffers
    private var labels: UnsafeMutableBufferPointer<Int>

    /// Every tensor of the state dict, in PyTorch's order, with the buffer or counter that holds it.
    public let tensors: [Tensor]

    public struct Tensor {
        public let entry: WRNStateDictEntry
        public let storage: Storage
    }

    public enum Storage {
        /// A trained parameter and its gradient (written by each step's backward).
        case parameter(value: TrainingBuffer, gradient: TrainingBuffer)
        /// Running mean or variance, updated by training forwards.
        case statistic(TrainingBuffer)
        /// `num_batches_tracked` of this batch norm.
        case batchesTracked(BatchNormReLULayer)
    }

    /// The trained parameters only, in state-dict order: what an optimizer updates.
    public var parameters: [(entry: WRNStateDictEntry, value: TrainingBuffer, gradient: TrainingBuffer)] {
        tensors.compactMap {
            if case .parameter(let value, let gradient) = $0.storage { return ($0.entry, value, gradient) }
            return nil
        }
    }

    /// A network of `architecture` with zero weights (see `initialize(seed:)` and `load(_:)`);
    /// `dropout` between each block's convolutions, its masks drawn from `seed`.
    public init(architecture: WRNArchitecture, inputHeight: Int = 32, inputWidth: Int = 32, maxBatch: Int,
                dropout: Double = 0, labelSmoothing: Double = 0, seed: UInt64 = 0, team: ThreadTeam = .single) throws(TrainingError) {
        guard architecture.depth >= 10, (architecture.depth - 4) % 6 == 0, architecture.widenFactor >= 1,
              architecture.numClasses >= 1 else {
            throw .invalidConfiguration("\(architecture) with \(architecture.numClasses) classes: depth must be 6N + 4 with N ≥ 1, widen factor and classes at least 1")
        }
        guard maxBatch >= 1 else { throw .invalidConfiguration("batch size \(maxBatch) (must be at least 1)") }
        self.architecture = architecture
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.maxBatch = maxBatch
        self.team = team
        let bias = architecture.convBias

        let stemGeometry = try ConvolutionGeometry(
            inChannels: 3, outChannels: WRNArchitecture.stemWidth, kernelSize: 3, stride: 1, padding: 1, hasBias: bias,
            inputHeight: inputHeight, inputWidth: inputWidth)
        stem = try ConvolutionLayer(stemGeometry, maxBatch: maxBatch, team: team)
        var blocks: [TrainingBlock] = []
        var (height, width) = (stemGeometry.outputHeight, stemGeometry.outputWidth)
        for (offset, layout) in architecture.blocks.enumerated() {
            let block = try TrainingBlock(layout, inputHeight: height, inputWidth: width, convBias: bias, maxBatch: maxBatch,
                                          dropout: dropout, seed: seed &+ UInt64(offset), team: team)
            (height, width) = (block.conv1.geometry.outputHeight, block.conv1.geometry.outputWidth)
            blocks.append(block)
        }
        self.blocks = blocks
        let features = architecture.groupWidths[2]
        finalNorm = try BatchNormReLULayer(channels: features, height: height, width: width, maxBatch: maxBatch, team: team)
        pool = try GlobalAveragePoolLayer(channels: features, height: height, width: width, maxBatch: maxBatch)
        classifier = try LinearLayer(inFeatures: features, outFeatures: architecture.numClasses, maxBatch: maxBatch,
                                     inputLayout: .featureMajor)
        loss = try SoftmaxCrossEntropyLoss(classes: architecture.numClasses, labelSmoothing: labelSmoothing)

        input = TrainingBuffer(count: stemGeometry.inputShape(batch: maxBatch).count)
        stemOutput = TrainingBuffer(count: stemGeometry.outputShape(batch: maxBatch).count)
        finalActivation = TrainingBuffer(count: finalNorm.shape(batch: maxBatch).count)
        self.features = TrainingBuffer(count: features * maxBatch)
        featureGradient = TrainingBuffer(count: features * maxBatch)
        logits = TrainingBuffer(count: architecture.numClasses * maxBatch)
        logitGradient = TrainingBuffer(count: architecture.numClasses * maxBatch)
        let largestStream = ([stemOutput.count] + blocks.map(\.output.count)).max()!
        streamGradients = (TrainingBuffer(count: largestStream), TrainingBuffer(count: largestStream))
        shared = TrainingBlock.SharedBuffers(blocks: blocks, stem: stem)
        labels = .allocate(capacity: maxBatch)
        labels.initialize(repeating: 0)

        var modules: [String: Module] = ["conv1": .convolution(stem), "bn1": .batchNorm(finalNorm), "fc": .linear(classifier)]
        for block in blocks {
            modules[block.layout.name + ".bn1"] = .batchNorm(block.bn1)
            modules[block.layout.name + ".conv1"] = .convolution(block.conv1)
            modules[block.layout.name + ".bn2"] = .batchNorm(block.bn2)
            modules[block.layout.name + ".conv2"] = .convolution(block.conv2)
            if let shortcut = block.shortcut { modules[block.layout.name + ".convShortcut"] = .convolution(shortcut) }
        }
        var tensors: [Tensor] = []
        for entry in architecture.stateDictEntries {
            guard let module = modules[entry.module], let storage = module.storage(for: entry.role) else {
                preconditionFailure("\(entry.key) has no layer: the network and WRNArchitecture.stateDictEntries disagree")
            }
            tensors.append(Tensor(entry: entry, storage: storage))
        }
        self.tensors = tensors
    }

    deinit { labels.deallocate() }

    /// A layer of the network as the state dict sees it.
    private enum Module {
        case convolution(ConvolutionLayer)
        case batchNorm(BatchNormReLULayer)
        case linear(LinearLayer)

        func storage(for role: WRNTensorRole) -> Storage? {
            switch (self, role) {
            case (.convolution(let c), .convWeight): return .parameter(value: c.weight, gradient: c.weightGradient)
            case (.convolution(let c), .convBias):
                guard let bias = c.bias, let gradient = c.biasGradient else { return nil }
                return .parameter(value: bias, gradient: gradient)
            case (.batchNorm(let b), .batchNormWeight): return .parameter(value: b.weight, gradient: b.weightGradient)
            case (.batchNorm(let b), .batchNormBias): return .parameter(value: b.bias, gradient: b.biasGradient)
            case (.batchNorm(let b), .runningMean): return .statistic(b.runningMean)
            case (.batchNorm(let b), .runningVariance): return .statistic(b.runningVariance)
            case (.batchNorm(let b), .batchesTracked): return .batchesTracked(b)
            case (.linear(let l), .linearWeight): return .parameter(value: l.weight, gradient: l.weightGradient)
            case (.linear(let l), .linearBias): return .parameter(value: l.bias, gradient: l.biasGradient)
            default: return nil
            }
        }
    }

    // MARK: Steps

    /// Forward in training mode (batch statistics, dropout), the loss, and backward: every
    /// parameter's gradient is overwritten with this batch's. `images` is NCHW float32
    /// `[batch, 3, inputHeight, inputWidth]`, `labels` class indices.
    public func trainingStep(images: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int>, batch: Int) throws(TrainingError)
        -> SoftmaxCrossEntropyLoss.Result {
        try load(images: images, labels: labels, batch: batch)
        forward(batch: batch, training: true)
        let result = try loss.evaluate(logits: logits.prefix(batch * architecture.numClasses),
                                       labels: UnsafeBufferPointer(self.labels), batch: batch,
                                       logitGradient: logitGradient.values)
        backward(batch: batch)
        return result
    }

    /// Loss and correct count in evaluation mode (running statistics, no dropout); changes nothing.
    public func evaluate(images: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int>, batch: Int) throws(TrainingError)
        -> SoftmaxCrossEntropyLoss.Result {
        try load(images: images, labels: labels, batch: batch)
        forward(batch: batch, training: false)
        return try loss.evaluate(logits: logits.prefix(batch * architecture.numClasses),
                                 labels: UnsafeBufferPointer(self.labels), batch: batch, logitGradient: nil)
    }

    private func load(images: UnsafeBufferPointer<Float>, labels: UnsafeBufferPointer<Int>, batch: Int) throws(TrainingError) {
        guard batch >= 1, batch <= maxBatch else {
            throw .invalidConfiguration("a batch of \(batch) images for a network sized for 1...\(maxBatch)")
        }
        let shape = stem.geometry.inputShape(batch: batch)
        guard images.count == shape.count, labels.count == batch else {
            throw .invalidData("\(images.count) values and \(labels.count) labels for \(batch) images of 3x\(inputHeight)x\(inputWidth)")
        }
        transposeNCHWToCNHW(images, shape: shape, into: input.values)
        for image in 0..<batch { self.labels[image] = labels[image] }
    }

    private func forward(batch: Int, training: Bool) {
        let scratch = shared.scratch.values
        stem.forward(input: input.prefix(input.count), batch: batch, output: stemOutput.values, scratch: scratch)
        var stream = stemOutput
        for block in blocks {
            block.forward(stream, batch: batch, training: training, scratch: scratch)
            stream = block.output
        }
        if training {
            finalNorm.forwardTraining(input: stream.prefix(stream.count), batch: batch, output: finalActivation.values)
        } else {
            finalNorm.forwardEvaluation(input: stream.prefix(stream.count), batch: batch, output: finalActivation.values)
        }
        pool.forward(input: finalActivation.prefix(finalActivation.count), batch: batch, output: features.values)
        classifier.forward(input: features.prefix(features.count), batch: batch, output: logits.values)
    }

    private func backward(batch: Int) {
        let scratch = shared.scratch.values
        classifier.backward(input: features.prefix(features.count), outputGradient: logitGradient.prefix(logitGradient.count),
                            batch: batch, inputGradient: featureGradient.values)
        var (gradient, spare) = streamGradients
        pool.backward(outputGradient: featureGradient.prefix(featureGradient.count), batch: batch, inputGradient: gradient.values)
        let last = blocks.last?.output ?? stemOutput
        // In place: batch norm's backward reads each output-gradient value before writing it.
        finalNorm.backward(input: last.prefix(last.count), outputGradient: gradient.prefix(gradient.count), batch: batch,
                           inputGradient: gradient.values)
        for (index, block) in blocks.enumerated().reversed() {
            let blockInput = index == 0 ? stemOutput : blocks[index - 1].output
            block.backward(input: blockInput, outputGradient: gradient, inputGradient: spare, batch: batch,
                           shared: shared, scratch: scratch)
            swap(&gradient, &spare)
        }
        stem.backward(input: input.prefix(input.count), outputGradient: gradient.prefix(gradient.count), batch: batch,
                      inputGradient: nil, scratch: scratch)
    }
}

/// One pre-activation block: bn1-relu, conv1, bn2-relu, dropout, conv2, plus the identity or the
/// 1x1 projection of bn1's output, with the activations backward reads again.
final class TrainingBlock {
    let layout: WRNBlockLayout
    let bn1: BatchNormReLULayer
    let conv1: ConvolutionLayer
    let bn2: BatchNormReLULayer
    let dropout: DropoutLayer
    let conv2: ConvolutionLayer
    let shortcut: ConvolutionLayer?
    /// relu(bn1(x)): conv1's input, and the shortcut's when there is one.
    let activated: TrainingBuffer
    /// conv1's output, which bn2's backward reads again.
    let hidden: TrainingBuffer
    /// relu(bn2(hidden)), then dropped out in place: conv2's input.
    let activatedHidden: TrainingBuffer
    /// The block's output, the next block's input.
    let output: TrainingBuffer

    /// Gradients inside a block and the im2col scratch, shared by all blocks (and the stem).
    struct SharedBuffers {
        /// conv2's input gradient, then (in place) bn2's.
        let hiddenGradient: TrainingBuffer
        let activatedGradient: TrainingBuffer
        let scratch: TrainingBuffer

        init(blocks: [TrainingBlock], stem: ConvolutionLayer) {
            hiddenGradient = TrainingBuffer(count: blocks.map(\.hidden.count).max() ?? 0)
            activatedGradient = TrainingBuffer(count: blocks.map(\.activated.count).max() ?? 0)
            let convolutions = [stem] + blocks.flatMap { [$0.conv1, $0.conv2] + ($0.shortcut.map { [$0] } ?? []) }
            scratch = TrainingBuffer(count: convolutions.map(\.scratchCount).max() ?? 0)
        }
    }

    init(_ layout: WRNBlockLayout, inputHeight: Int, inputWidth: Int, convBias: Bool, maxBatch: Int,
         dropout: Double, seed: UInt64, team: ThreadTeam) throws(TrainingError) {
        self.layout = layout
        let conv1Geometry = try ConvolutionGeometry(
            inChannels: layout.inChannels, outChannels: layout.outChannels, kernelSize: 3, stride: layout.stride, padding: 1,
            hasBias: convBias, inputHeight: inputHeight, inputWidth: inputWidth)
        let conv2Geometry = try ConvolutionGeometry(
            inChannels: layout.outChannels, outChannels: layout.outChannels, kernelSize: 3, stride: 1, padding: 1,
            hasBias: convBias, inputHeight: conv1Geometry.outputHeight, inputWidth: conv1Geometry.outputWidth)
        bn1 = try BatchNormReLULayer(channels: layout.inChannels, height: inputHeight, width: inputWidth, maxBatch: maxBatch, team: team)
        conv1 = try ConvolutionLayer(conv1Geometry, maxBatch: maxBatch, team: team)
        bn2 = try BatchNormReLULayer(channels: layout.outChannels, height: conv1Geometry.outputHeight,
                                     width: conv1Geometry.outputWidth, maxBatch: maxBatch, team: team)
        let hiddenCount = conv1Geometry.outputShape(batch: maxBatch).count
        self.dropout = try DropoutLayer(probability: dropout, maxCount: hiddenCount, seed: seed, team: team)
        conv2 = try ConvolutionLayer(conv2Geometry, maxBatch: maxBatch, team: team)
        shortcut = layout.hasShortcut
            ? try ConvolutionLayer(
                try ConvolutionGeometry(inChannels: layout.inChannels, outChannels: layout.outChannels, kernelSize: 1,
                                        stride: layout.stride, padding: 0, hasBias: convBias,
                                        inputHeight: inputHeight, inputWidth: inputWidth),
                maxBatch: maxBatch, team: team)
            : nil
        activated = TrainingBuffer(count: conv1Geometry.inputShape(batch: maxBatch).count)
        hidden = TrainingBuffer(count: hiddenCount)
        activatedHidden = TrainingBuffer(count: hiddenCount)
        output = TrainingBuffer(count: hiddenCount)
    }

    func forward(_ input: TrainingBuffer, batch: Int, training: Bool, scratch: UnsafeMutableBufferPointer<Float>) {
        let x = input.prefix(input.count)
        if training {
            bn1.forwardTraining(input: x, batch: batch, output: activated.values)
        } else {
            bn1.forwardEvaluation(input: x, batch: batch, output: activated.values)
        }
        conv1.forward(input: activated.prefix(activated.count), batch: batch, output: hidden.values, scratch: scratch)
        if training {
            bn2.forwardTraining(input: hidden.prefix(hidden.count), batch: batch, output: activatedHidden.values)
            if !dropout.isIdentity {
                dropout.forwardTraining(activatedHidden.values, count: conv1.geometry.outputShape(batch: batch).count)
            }
        } else {
            bn2.forwardEvaluation(input: hidden.prefix(hidden.count), batch: batch, output: activatedHidden.values)
        }
        if let shortcut {
            shortcut.forward(input: activated.prefix(activated.count), batch: batch, output: output.values, scratch: scratch)
        } else {
            Residual.copy(x, into: output.values, count: conv1.geometry.inputShape(batch: batch).count)
        }
        conv2.forward(input: activatedHidden.prefix(activatedHidden.count), batch: batch, output: output.values,
                      accumulating: true, scratch: scratch)
    }

    /// From the gradient of the block's output to that of its `input`, which `inputGradient` receives.
    func backward(input: TrainingBuffer, outputGradient: TrainingBuffer, inputGradient: TrainingBuffer, batch: Int,
                  shared: SharedBuffers, scratch: UnsafeMutableBufferPointer<Float>) {
        let outCount = conv1.geometry.outputShape(batch: batch).count
        let inCount = conv1.geometry.inputShape(batch: batch).count
        let dOut = outputGradient.prefix(outCount)
        let dHidden = shared.hiddenGradient, dActivated = shared.activatedGradient
        conv2.backward(input: activatedHidden.prefix(activatedHidden.count), outputGradient: dOut, batch: batch,
                       inputGradient: dHidden.values, scratch: scratch)
        if !dropout.isIdentity { dropout.backward(dHidden.values, count: outCount) }
        // In place, as for the final batch norm: each output-gradient value is read before it is written.
        bn2.backward(input: hidden.prefix(hidden.count), outputGradient: dHidden.prefix(outCount), batch: batch,
                     inputGradient: dHidden.values)
        conv1.backward(input: activated.prefix(activated.count), outputGradient: dHidden.prefix(outCount), batch: batch,
                       inputGradient: dActivated.values, scratch: scratch)
        let x = input.prefix(input.count)
        if let shortcut {
            shortcut.backward(input: activated.prefix(activated.count), outputGradient: dOut, batch: batch,
                              inputGradient: dActivated.values, accumulatingInputGradient: true, scratch: scratch)
            bn1.backward(input: x, outputGradient: dActivated.prefix(inCount), batch: batch, inputGradient: inputGradient.values)
        } else {
            // The identity path's gradient first, then bn1 adds the branch's.
            Residual.copy(dOut, into: inputGradient.values, count: inCount)
            bn1.backward(input: x, outputGradient: dActivated.prefix(inCount), batch: batch,
                         inputGradient: inputGradient.values, accumulating: true)
        }
    }
}
