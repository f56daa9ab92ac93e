import Foundation

/// Running sums comparing one activation's dequantized int8 values `y` with the float reference's
/// values `x`, over every element of every image:
///
///   SQNR   = 10 · log10(Σx² / Σ(x − y)²)   in dB; each bit of precision is worth about 6 dB
///   cosine = Σxy / √(Σx² · Σy²)
///
/// plus the largest |x − y| and how many float values fell outside the int8 range (clipped).
/// Sums are Double: a WRN-28-10 layer has ~10⁶ values per image.
public struct LayerErrorStatistics: Sendable, Equatable {
    public private(set) var count = 0
    public private(set) var signal = 0.0       // Σx²
    public private(set) var noise = 0.0        // Σ(x − y)²
    public private(set) var dot = 0.0          // Σxy
    public private(set) var quantized = 0.0    // Σy²
    public private(set) var clipped = 0
    public private(set) var maxAbsoluteError = 0.0
    public private(set) var floatMinimum = Double.infinity
    public private(set) var floatMaximum = -Double.infinity

    public init() {}

    /// Adds one pair: `float` from the reference, `dequantized` from int8, and whether the float
    /// value lay outside the int8 range.
    @inline(__always)
    public mutating func add(float: Float, dequantized: Float, outsideRange: Bool) {
        let x = Double(float), y = Double(dequantized)
        let difference = x - y
        count += 1
        signal += x * x
        noise += difference * difference
        dot += x * y
        quantized += y * y
        if outsideRange { clipped += 1 }
        maxAbsoluteError = max(maxAbsoluteError, abs(difference))
        floatMinimum = min(floatMinimum, x)
        floatMaximum = max(floatMaximum, x)
    }

    /// Signal-to-quantization-noise ratio in dB; nil when int8 reproduced float exactly (infinite).
    public var sqnrDecibels: Double? {
        guard noise > 0 else { return nil }
        guard signal > 0 else { return -Double.infinity }
        return 10 * log10(signal / noise)
    }

    /// Cosine similarity; 1 when both are all zeros, 0 when exactly one is.
    public var cosine: Double {
        if signal == 0 && quantized == 0 { return 1 }
        guard signal > 0, quantized > 0 else { return 0 }
        return dot / (signal.squareRoot() * quantized.squareRoot())
    }

    public var clippedFraction: Double { count > 0 ? Double(clipped) / Double(count) : 0 }
}
