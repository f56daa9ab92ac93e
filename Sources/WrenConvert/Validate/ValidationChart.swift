import WrenCharts

/// The report as a self-contained SVG a browser opens: a bar per layer showing the SQNR of its int8
/// activation against float (red below 20 dB, orange below 30 dB, green above), and, when the
/// inputs had labels, the float and int8 confusion matrices side by side, with cells where the two
/// differ outlined.
extension ValidationReport {
    /// SQNR bands of the bars, in dB: red below `poorSQNR`, orange below `goodSQNR`, green above.
    static let poorSQNR = 20.0, goodSQNR = 30.0

    public func svgChart() -> String {
        let labelWidth = 200.0
        let barWidth = 460.0
        let rowHeight = 15.0
        let left = 20.0
        let chartTop = 96.0
        let width = left + labelWidth + barWidth + 190

        let finite = layers.compactMap(\.sqnrDB)
        // Capped: past 200 dB every bar is full anyway, and the ticks (one per 10 dB) stay few whatever the report holds.
        let axisMax = min(Self.maxAxisSQNR, max(40, ((finite.max() ?? 40) / 10).rounded(.up) * 10))
        var svg = SVGBuilder()

        // Title and summary.
        svg.text(left, 26, "int8 vs float32 — \(model.file) (\(model.architecture), \(model.numClasses) classes)", size: 16, weight: "bold")
        svg.text(left, 46, "calibration: \(model.calibration) · weights: \(model.weights)", size: 12, fill: "#444")
        var summary = "\(imageCount) inputs · top-1 agreement \(Self.percent(agreement))"
        if let floatAccuracy, let int8Accuracy {
            summary += " · accuracy float \(Self.percent(floatAccuracy)), int8 \(Self.percent(int8Accuracy))"
        }
        summary += " · max |Δlogit| \(Self.fixed(maxAbsLogitDelta, 3))"
        svg.text(left, 64, summary, size: 12, fill: "#444")

        // SQNR bars.
        let barsLeft = left + labelWidth
        let barsBottom = chartTop + Double(layers.count) * rowHeight
        svg.text(barsLeft, chartTop - 18, "per-layer SQNR of int8 activations vs float (dB, higher is better)", size: 12, weight: "bold")
        var tick = 0.0
        while tick <= axisMax {
            let x = barsLeft + tick / axisMax * barWidth
            svg.line(x, chartTop - 4, x, barsBottom, stroke: "#ddd")
            svg.text(x, chartTop - 6, Self.fixed(tick, 0), size: 10, fill: "#666", anchor: "middle")
            tick += 10
        }
        for (row, layer) in layers.enumerated() {
            let y = chartTop + Double(row) * rowHeight
            svg.text(barsLeft - 6, y + rowHeight - 4, layer.name, size: 11, anchor: "end", family: "monospace")
            let value: String
            let length: Double
            let color: String
            if layer.exact {
                (length, color, value) = (barWidth, "#9e9e9e", "exact")
            } else if let sqnr = layer.sqnrDB {
                length = max(0, min(sqnr, axisMax)) / axisMax * barWidth
                color = sqnr < Self.poorSQNR ? "#d62728" : sqnr < Self.goodSQNR ? "#ff7f0e" : "#2ca02c"
                value = "\(Self.fixed(sqnr, 1)) dB · cos \(Self.fixed(layer.cosine, 4))"
                    + (layer.clippedFraction > 0 ? " · clip \(Self.fixed(100 * layer.clippedFraction, 2))%" : "")
            } else {
                (length, color, value) = (0, "#d62728", "-inf dB")
            }
            svg.rect(barsLeft, y + 2, max(length, 1), rowHeight - 4, fill: color)
            svg.text(barsLeft + length + 4, y + rowHeight - 4, value, size: 10, fill: "#333")
        }
        svg.line(barsLeft, chartTop - 4, barsLeft, barsBottom, stroke: "#333")
        let (poor, good) = (Int(Self.poorSQNR), Int(Self.goodSQNR))
        svg.text(barsLeft, barsBottom + 16, "green ≥ \(good) dB · orange \(poor)–\(good) dB · red < \(poor) dB (each bit of precision ≈ 6 dB)", size: 10, fill: "#666")
        var height = barsBottom + 30

        // Confusion matrices.
        if let floatConfusion, let int8Confusion {
            let classes = classNames.count
            let cell = max(6, min(26, 300 / Double(max(classes, 1))))
            let showNames = classes <= 20
            let gap = showNames ? 70.0 : 20.0
            let matrixTop = height + 40
            let matrixWidth = Double(classes) * cell
            for (index, (title, matrix)) in [("float32", floatConfusion), ("int8", int8Confusion)].enumerated() {
                let originX = left + gap + Double(index) * (matrixWidth + gap + 60)
                svg.text(originX, matrixTop - 24, "\(title) confusion (rows: true class, columns: predicted)", size: 12, weight: "bold")
                for truth in 0..<classes {
                    let rowTotal = max(1, matrix[truth].reduce(0, +))
                    if showNames {
                        svg.text(originX - 4, matrixTop + (Double(truth) + 0.7) * cell, className(truth), size: 10, anchor: "end")
                    }
                    for predicted in 0..<classes {
                        let count = matrix[truth][predicted]
                        let share = Double(count) / Double(rowTotal)
                        let x = originX + Double(predicted) * cell
                        let y = matrixTop + Double(truth) * cell
                        let differs = floatConfusion[truth][predicted] != int8Confusion[truth][predicted]
                        svg.rect(x, y, cell, cell, fill: Self.blue(share), stroke: differs ? "#d62728" : "#fff",
                                 strokeWidth: differs ? 2 : 0.5)
                        if showNames && count > 0 {
                            svg.text(x + cell / 2, y + cell * 0.68, "\(count)", size: min(11, cell * 0.45),
                                     fill: share > 0.5 ? "#fff" : "#222", anchor: "middle")
                        }
                    }
                }
                if showNames {
                    for predicted in 0..<classes {
                        svg.text(originX + (Double(predicted) + 0.5) * cell, matrixTop - 6, className(predicted), size: 10, anchor: "middle")
                    }
                }
            }
            height = matrixTop + matrixWidth + 30
            svg.text(left, height - 8, "red outline: the int8 count differs from float32", size: 10, fill: "#666")
        }
        return svg.document(width: max(width, 2 * Double(classNames.count) * 26 + 300), height: height)
    }

    /// The right end of the SQNR axis never lies further out (dB).
    static let maxAxisSQNR = 200.0

    /// White → dark blue by share.
    static func blue(_ share: Double) -> String {
        let t = max(0, min(1, share))
        let r = Int(247 - t * (247 - 8)), g = Int(251 - t * (251 - 48)), b = Int(255 - t * (255 - 107))
        return "rgb(\(r),\(g),\(b))"
    }
}

