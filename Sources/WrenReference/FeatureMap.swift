import WrenNetwork

/// An NCHW activation buffer that the forward pass reuses from layer to layer: resizing keeps the
/// array's capacity, so one forward allocates each buffer only while it is still growing.
struct FeatureMap {
    private(set) var shape: ActivationShape
    var values: [Float]

    init() {
        shape = ActivationShape(batch: 0, channels: 0, height: 0, width: 0)
        values = []
    }

    init(shape: ActivationShape, values: [Float]) {
        precondition(shape.count == values.count, "feature map \(shape) holds \(values.count) values")
        self.shape = shape
        self.values = values
    }

    /// Gives the map `newShape`; its values are unspecified afterwards unless the count was unchanged.
    mutating func resize(to newShape: ActivationShape) {
        shape = newShape
        if values.count != newShape.count {
            values.removeAll(keepingCapacity: true)
            values.append(contentsOf: repeatElement(0, count: newShape.count))
        }
    }
}
