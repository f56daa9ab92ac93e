/// Float storage allocated once, 64-byte aligned and zero-filled, freed with its owner.
///
/// Activations, gradients, parameters and im2col scratch all live in these, sized for the largest
/// batch at setup and reused every step, so a training step allocates nothing. A class, so that a
/// layer and the network that feeds it can share one buffer without copying or exclusivity scopes.
///
/// The pointers it hands out are valid while the buffer lives: keep it in a property or a named
/// variable for as long as they are used. A temporary such as `TrainingBuffer(array).values`
/// passed straight into a call may be freed before the call runs.
public final class TrainingBuffer {
    /// The whole buffer. Layers take `UnsafeBufferPointer`s into it; they never outlive the buffer.
    public let values: UnsafeMutableBufferPointer<Float>

    public var count: Int { values.count }

    /// `count` zeros.
    public init(count: Int) {
        precondition(count >= 0, "a buffer of \(count) floats")
        // At least one element, so that even an empty buffer has a base address to hand out.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        let start = raw.initializeMemory(as: Float.self, repeating: 0, count: max(count, 1))
        values = UnsafeMutableBufferPointer(start: start, count: count)
    }

    /// A copy of `array`.
    public convenience init(_ array: [Float]) {
        self.init(count: array.count)
        _ = values.initialize(from: array)
    }

    deinit { UnsafeMutableRawPointer(values.baseAddress!).deallocate() }

    /// The first `count` values, read-only: what a layer reads when the batch is smaller than the
    /// buffer was sized for.
    public func prefix(_ count: Int) -> UnsafeBufferPointer<Float> {
        precondition(count <= values.count, "prefix of \(count) from a buffer of \(values.count)")
        return UnsafeBufferPointer(start: values.baseAddress, count: count)
    }

    /// The first `count` values, writable.
    public func mutablePrefix(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        precondition(count <= values.count, "prefix of \(count) from a buffer of \(values.count)")
        return UnsafeMutableBufferPointer(start: values.baseAddress, count: count)
    }

    /// A copy of the contents (for tests and checkpoints, not the hot path).
    public var array: [Float] { Array(values) }

    /// Overwrites the contents with `array`, which must have exactly `count` values.
    public func assign(_ array: [Float]) {
        precondition(array.count == values.count, "assigning \(array.count) values to a buffer of \(values.count)")
        _ = values.update(fromContentsOf: array)
    }
}

/// A parameter a layer trains and the buffer its gradient is written to, named as in PyTorch's
/// `state_dict` relative to the layer ("weight", "bias"), for the optimizers and checkpoints.
public struct TrainableParameter {
    public let name: String
    public let value: TrainingBuffer
    public let gradient: TrainingBuffer

    public init(name: String, value: TrainingBuffer, gradient: TrainingBuffer) {
        precondition(value.count == gradient.count, "\(name): \(value.count) values but \(gradient.count) gradients")
        self.name = name
        self.value = value
        self.gradient = gradient
    }
}
