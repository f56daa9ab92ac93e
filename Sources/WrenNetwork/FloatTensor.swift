/// A dense float32 tensor in row-major (C) order: the currency between checkpoint import and the models.
public struct FloatTensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not match \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public var count: Int { data.count }
}
