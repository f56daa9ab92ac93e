import CBLAS
import WrenNetwork

/// Called with each named activation of the whole batch, NCHW, as the forward pass produces it.
public typealias ActivationObserver = (_ name: String, _ shape: ActivationShape, _ values: UnsafeBufferPointer<Float>) -> Void

/// Eval-mode inference: the layers of `WideResNet` (WrenNetwork) run through OpenBLAS.
extension WideResNet {
    /// input: NCHW float32 [batch, 3, height, width]; returns logits [batch, numClasses] row-major.
    /// Throws .invalidInput for a wrong count or non-finite values.
    public func forward(_ input: [Float], batch: Int, height: Int = 32, width: Int = 32,
                        observer: ActivationObserver? = nil) throws(NetworkError) -> [Float] {
        try Self.checkInput(input, batch: batch, height: height, width: width)
        try checkStructure(batch: batch, height: height, width: width)
        ReferenceBLAS.useOneThread()

        func observe(_ name: String, _ map: FeatureMap) {
            guard let observer else { return }
            map.values.withUnsafeBufferPointer { observer(name, map.shape, $0) }
        }

        // Four activation buffers and one im2col scratch, reused by every layer.
        var stream = FeatureMap(shape: ActivationShape(batch: batch, channels: 3, height: height, width: width), values: input)
        var activated = FeatureMap()  // relu(bn1(stream)): conv1's and the shortcut's input
        var hidden = FeatureMap()     // conv1, then relu(bn2(conv1))
        var next = FeatureMap()       // the next residual stream
        var columns: [Float] = []

        observe("input", stream)
        stem.apply(to: stream, into: &next, columns: &columns)
        swap(&stream, &next)
        observe("conv1", stream)

        // checkStructure has matched the groups, block for block, with the architecture's layout.
        for (layout, block) in zip(architecture.blocks, groups.joined()) {
            let name = layout.name
            block.bn1.applyReLU(to: stream, into: &activated)
            observe(name + ".relu1", activated)
            block.conv1.apply(to: activated, into: &hidden, columns: &columns)
            block.bn2.applyReLU(inPlace: &hidden)
            observe(name + ".relu2", hidden)
            if let shortcut = block.shortcut {
                // Widths differ: the residual is the shortcut of the *activated* input.
                shortcut.apply(to: activated, into: &next, columns: &columns)
                observe(name + ".convShortcut", next)
                block.conv2.apply(to: hidden, into: &next, columns: &columns, accumulating: true)
                swap(&stream, &next)
            } else {
                // Equal widths: the residual is the raw stream, which conv2 adds onto in place.
                block.conv2.apply(to: hidden, into: &stream, columns: &columns, accumulating: true)
            }
            observe(name, stream)
        }

        finalBN.applyReLU(to: stream, into: &activated)
        observe("relu", activated)
        globalAveragePool(activated, into: &next)
        observe("pool", next)
        return fc.apply(to: next.values, batch: batch)
    }

    static func checkInput(_ input: [Float], batch: Int, height: Int, width: Int) throws(NetworkError) {
        guard batch >= 1, height >= 1, width >= 1 else {
            throw .invalidInput("batch \(batch), height \(height) and width \(width) must all be at least 1")
        }
        let expected = try checkedProduct([batch, 3, height, width], what: "input [\(batch), 3, \(height), \(width)]")
        guard input.count == expected else {
            throw .invalidInput("expected \(expected) values for [\(batch), 3, \(height), \(width)], got \(input.count)")
        }
        if let bad = input.firstIndex(where: { !$0.isFinite }) {
            throw .invalidInput("value \(input[bad]) at index \(bad) is not finite")
        }
    }
}

/// OpenBLAS's thread count, process-wide.
enum ReferenceBLAS {
    /// One OpenBLAS thread, set by every forward pass: callers that want threads run images on
    /// threads of their own (calibration), where OpenBLAS's threads would only spin against them,
    /// and a GEMM's result then never depends on how OpenBLAS split it (concurrent callers and
    /// earlier callers could leave different thread counts and splits).
    static func useOneThread() { openblas_set_num_threads(1) }
}
