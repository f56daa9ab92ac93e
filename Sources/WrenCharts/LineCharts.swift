/// Panels of line charts over a shared x axis (epochs), side by side in one SVG: what
/// `wren train --curves` draws (loss and accuracy, train and test). Each panel is a
/// `<g class="panel">` with its axes (`class="axis"`), and each series a
/// `<polyline class="series" data-series="NAME">` with one point per value that is not nil,
/// so scripts and tests can read the chart back.
public struct LinePanel {
    public struct Series {
        public var name: String
        public var color: String
        /// One value per x position (`values[i]` at x = i + 1); nil leaves a point out.
        public var values: [Double?]

        public init(name: String, color: String, values: [Double?]) {
            self.name = name
            self.color = color
            self.values = values
        }
    }

    public var title: String
    public var yLabel: String
    public var series: [Series]
    /// A fixed y range (accuracy: 0...100); nil fits the data.
    public var yRange: ClosedRange<Double>?

    public init(title: String, yLabel: String, series: [Series], yRange: ClosedRange<Double>? = nil) {
        self.title = title
        self.yLabel = yLabel
        self.series = series
        self.yRange = yRange
    }
}

public func svgLineCharts(title: String, subtitle: String, xLabel: String, panels: [LinePanel]) -> String {
    let panelWidth = 420.0, panelHeight = 260.0, left = 64.0, top = 84.0, gap = 84.0
    var svg = SVGBuilder()
    svg.text(20, 28, title, size: 16, weight: "bold")
    svg.text(20, 48, subtitle, size: 12, fill: "#444")
    let points = panels.map { $0.series.map(\.values.count).max() ?? 0 }.max() ?? 0
    for (index, panel) in panels.enumerated() {
        let x0 = left + Double(index) * (panelWidth + gap), y0 = top, x1 = x0 + panelWidth, y1 = y0 + panelHeight
        let values = panel.series.flatMap { $0.values.compactMap { $0 } }.filter(\.isFinite)
        let (range, tickStep) = panel.yRange.map { ($0, ($0.upperBound - $0.lowerBound) / 4) } ?? niceRange(values)
        let tickCount = Int(((range.upperBound - range.lowerBound) / tickStep).rounded())
        svg.open("<g class=\"panel\" data-title=\"\(SVGBuilder.escape(panel.title))\">")
        svg.text(x0, y0 - 12, panel.title, size: 13, weight: "bold")
        // Axes, y ticks with grid lines, x ticks at whole epochs (at most ~10 labels).
        svg.open("<g class=\"axis\">")
        svg.line(x0, y1, x1, y1, stroke: "#333")
        svg.line(x0, y0, x0, y1, stroke: "#333")
        for tick in 0...tickCount {
            let value = range.lowerBound + tickStep * Double(tick)
            let y = y1 - Double(tick) / Double(tickCount) * panelHeight
            if tick > 0 { svg.line(x0, y, x1, y, stroke: "#eee") }
            svg.text(x0 - 6, y + 4, SVGBuilder.fixed(value, decimals(tickStep)), size: 10, fill: "#555", anchor: "end")
        }
        let step = max(1, (points + 9) / 10)
        for epoch in stride(from: 1, through: max(points, 1), by: step) {
            let x = xPosition(epoch, of: points, x0, panelWidth)
            svg.line(x, y1, x, y1 + 4, stroke: "#333")
            svg.text(x, y1 + 16, String(epoch), size: 10, fill: "#555", anchor: "middle")
        }
        svg.text((x0 + x1) / 2, y1 + 34, xLabel, size: 11, anchor: "middle")
        svg.text(x0 - 46, (y0 + y1) / 2, panel.yLabel, size: 11, anchor: "middle",
                 transform: "rotate(-90 \(SVGBuilder.number(x0 - 46)) \(SVGBuilder.number((y0 + y1) / 2)))")
        svg.close("</g>")
        for (rank, series) in panel.series.enumerated() {
            let placed = series.values.enumerated().compactMap { epoch, value -> (Double, Double)? in
                guard let value, value.isFinite else { return nil }
                let clamped = min(max(value, range.lowerBound), range.upperBound)
                let fraction = (clamped - range.lowerBound) / (range.upperBound - range.lowerBound)
                return (xPosition(epoch + 1, of: points, x0, panelWidth), y1 - fraction * panelHeight)
            }
            svg.polyline(placed, stroke: series.color, attributes: "class=\"series\" data-series=\"\(SVGBuilder.escape(series.name))\"")
            for (x, y) in placed { svg.circle(x, y, 2.5, fill: series.color) }
            // Legend, in the title row above the plot (curves reach every corner of it).
            let legendX = x1 - Double(panel.series.count - rank) * 70
            svg.line(legendX, y0 - 16, legendX + 18, y0 - 16, stroke: series.color)
            svg.text(legendX + 24, y0 - 12, series.name, size: 11)
        }
        svg.close("</g>")
    }
    let width = left + Double(panels.count) * (panelWidth + gap)
    return svg.document(width: width, height: top + panelHeight + 56)
}

private func xPosition(_ epoch: Int, of points: Int, _ x0: Double, _ width: Double) -> Double {
    points <= 1 ? x0 + width / 2 : x0 + Double(epoch - 1) / Double(points - 1) * width
}

/// From 0 (or the data's minimum, if negative) to the data's maximum rounded up to a tick step of
/// 1, 2, 2.5 or 5 × 10ᵏ that gives 4 to 8 ticks; returns the range and the step.
private func niceRange(_ values: [Double]) -> (ClosedRange<Double>, Double) {
    let lower = min(0, values.min() ?? 0), top = max(values.max() ?? 1, lower + 1e-6)
    var magnitude = 1.0
    while magnitude * 10 <= (top - lower) / 4 { magnitude *= 10 }
    while magnitude > (top - lower) / 4 { magnitude /= 10 }
    let step = [1, 2, 2.5, 5, 10].map { $0 * magnitude }.first { (top - lower) / $0 <= 8 } ?? 10 * magnitude
    return (lower...(lower + ((top - lower) / step).rounded(.up) * step), step)
}

/// Decimals that show a tick step exactly (2.5 → 1, 0.25 → 2).
private func decimals(_ step: Double) -> Int {
    var digits = 0, scaled = step
    while digits < 4 && abs(scaled - scaled.rounded()) > 1e-9 { scaled *= 10; digits += 1 }
    return digits
}
