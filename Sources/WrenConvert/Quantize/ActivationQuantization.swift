/// Per-tensor asymmetric int8 parameters for an activation range: the range is widened to hold 0
/// (so zero padding and ReLU's floor are exact) and mapped onto -128...127.
public struct ActivationQuantization: Equatable, Sendable {
    public var scale: Float
    public var zeroPoint: Int32

    public init(range: ClosedRange<Float>) {
        let low = Double(min(range.lowerBound, 0))
        var high = Double(max(range.upperBound, 0))
        if high - low < 1e-8 { high = low + 1e-8 }
        let scale = (high - low) / 255
        let zeroPoint = (-128 - low / scale).rounded(.toNearestOrEven)
        self.scale = Float(scale)
        self.zeroPoint = Int32(min(max(zeroPoint, -128), 127))
    }
}

extension ActivationQuantization {
    /// Symmetric int16 parameters (TFLite's 16x8 scheme): zero point 0, scale = max|range| / 32767,
    /// the range widened to hold 0 as for int8.
    public static func int16(range: ClosedRange<Float>) -> ActivationQuantization {
        var magnitude = max(Double(-min(range.lowerBound, 0)), Double(max(range.upperBound, 0)))
        if magnitude < 1e-8 { magnitude = 1e-8 }
        return ActivationQuantization(scale: Float(magnitude / 32767), zeroPoint: 0)
    }

    init(scale: Float, zeroPoint: Int32) {
        self.scale = scale
        self.zeroPoint = zeroPoint
    }
}
