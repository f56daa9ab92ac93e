/// Minimal SVG text assembly with escaping, shared by `wren validate --chart` and `wren train --curves`.
public struct SVGBuilder {
    public init() {}

    private var body: [String] = []

    public static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            default: result.append(character)
            }
        }
        return result
    }

    /// One decimal, as every coordinate is written.
    public static func number(_ value: Double) -> String { fixed(value, 1) }

    /// `value` with exactly `digits` decimals, without Foundation's String(format:).
    /// NaN, ±Inf and magnitudes whose scaled digits would not fit an Int print as Swift does ("1e+38").
    public static func fixed(_ value: Double, _ digits: Int) -> String {
        var factor = 1.0
        for _ in 0..<digits { factor *= 10 }
        guard value.isFinite, abs(value) * factor < 1e15 else { return "\(value)" }
        let scaled = (abs(value) * factor).rounded()
        let whole = Int(scaled / factor)
        var fraction = String(Int(scaled - Double(whole) * factor))
        while fraction.count < digits { fraction = "0" + fraction }
        let sign = value < 0 && scaled > 0 ? "-" : ""
        return digits == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }

    public mutating func text(
        _ x: Double, _ y: Double, _ content: String, size: Double, fill: String = "#111", weight: String = "normal",
        anchor: String = "start", family: String = "sans-serif", transform: String? = nil
    ) {
        body.append("<text x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" font-size=\"\(Self.number(size))\" "
                    + "font-family=\"\(family)\" font-weight=\"\(weight)\" fill=\"\(fill)\" text-anchor=\"\(anchor)\""
                    + (transform.map { " transform=\"\($0)\"" } ?? "") + ">"
                    + Self.escape(content) + "</text>")
    }

    /// A polyline through `points`, unfilled.
    public mutating func polyline(_ points: [(Double, Double)], stroke: String, attributes: String = "") {
        let list = points.map { "\(Self.number($0.0)),\(Self.number($0.1))" }.joined(separator: " ")
        body.append("<polyline \(attributes) points=\"\(list)\" fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"2\"/>")
    }

    public mutating func circle(_ x: Double, _ y: Double, _ radius: Double, fill: String) {
        body.append("<circle cx=\"\(Self.number(x))\" cy=\"\(Self.number(y))\" r=\"\(Self.number(radius))\" fill=\"\(fill)\"/>")
    }

    /// Starts a group (`element` is its opening tag); `close` ends it.
    public mutating func open(_ element: String) { body.append(element) }
    public mutating func close(_ element: String) { body.append(element) }

    public mutating func rect(_ x: Double, _ y: Double, _ width: Double, _ height: Double, fill: String, stroke: String? = nil, strokeWidth: Double = 1) {
        var element = "<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(width))\" "
            + "height=\"\(Self.number(height))\" fill=\"\(fill)\""
        if let stroke { element += " stroke=\"\(stroke)\" stroke-width=\"\(Self.number(strokeWidth))\"" }
        body.append(element + "/>")
    }

    public mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, stroke: String) {
        body.append("<line x1=\"\(Self.number(x1))\" y1=\"\(Self.number(y1))\" x2=\"\(Self.number(x2))\" "
                    + "y2=\"\(Self.number(y2))\" stroke=\"\(stroke)\" stroke-width=\"1\"/>")
    }

    public func document(width: Double, height: Double) -> String {
        let w = Self.number(width), h = Self.number(height)
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }
}
