import WrenCharts

/// The report as a readable plain-text table (what `wren validate` prints).
extension ValidationReport {
    public func table(layerLimit: Int? = nil) -> String {
        var lines: [String] = []
        lines.append("int8 model   \(model.file): \(model.architecture), \(model.numClasses) classes")
        lines.append("             calibration: \(model.calibration); weights: \(model.weights)")
        lines.append("reference    \(model.reference) (float32)")
        let wide = layers.filter { $0.elementType == "int16" }.map(\.name)
        if !wide.isEmpty { lines.append("int16        \(wide.joined(separator: ", ")) (kept wider; other activations int8)") }
        lines.append("inputs       \(imageCount)")
        lines.append("")
        if let floatCorrect, let int8Correct {
            let floatText = "\(Self.percent(Double(floatCorrect) / Double(imageCount))) (\(floatCorrect)/\(imageCount))"
            let int8Text = "\(Self.percent(Double(int8Correct) / Double(imageCount))) (\(int8Correct)/\(imageCount))"
            let change = 100 * Double(int8Correct - floatCorrect) / Double(imageCount)
            lines.append("accuracy          float32 \(floatText)   int8 \(int8Text)   change \(change >= 0 ? "+" : "")\(Self.fixed(change, 2)) points")
        }
        lines.append("top-1 agreement   \(Self.percent(agreement)) (\(agreeing)/\(imageCount))")
        var logitLine = "logits            mean |Δ| \(Self.fixed(meanAbsLogitDelta, 4)), max |Δ| \(Self.fixed(maxAbsLogitDelta, 4))"
        if let logitSQNRDB { logitLine += ", SQNR \(Self.fixed(logitSQNRDB, 1)) dB" }
        lines.append(logitLine)
        lines.append("")

        let nameWidth = max(24, (layers.map(\.name.count).max() ?? 0) + 2)
        // A type column only when some activation is int16, so int8 files print as before.
        let typeColumn = { (text: String) in wide.isEmpty ? "" : Self.padLeft(text, 7) }
        lines.append(Self.pad("layer", nameWidth) + Self.padLeft("shape", 12) + typeColumn("type") + Self.padLeft("SQNR dB", 10)
                     + Self.padLeft("cosine", 10) + Self.padLeft("clipped", 10) + Self.padLeft("scale", 12))
        let shown = layerLimit.map { Array(layers.prefix($0)) } ?? layers
        for layer in shown {
            let shape = layer.shape.map(String.init).joined(separator: "x")
            let sqnr = layer.exact ? "exact" : layer.sqnrDB.map { Self.fixed($0, 1) } ?? "-inf"
            lines.append(Self.pad(layer.name, nameWidth) + Self.padLeft(shape, 12) + typeColumn(layer.elementType) + Self.padLeft(sqnr, 10)
                         + Self.padLeft(Self.fixed(layer.cosine, 5), 10)
                         + Self.padLeft(Self.fixed(100 * layer.clippedFraction, 3) + "%", 10)
                         + Self.padLeft(Self.fixed(Double(layer.scale), 5), 12))
        }
        if shown.count < layers.count { lines.append("… \(layers.count - shown.count) more layers (all in --json)") }
        lines.append("")
        let worst = worstLayers.compactMap { name in layers.first { $0.name == name } }.map { layer in
            "\(layer.name) (\(layer.exact ? "exact" : layer.sqnrDB.map { Self.fixed($0, 1) + " dB" } ?? "-inf dB"))"
        }
        lines.append("worst layers      " + worst.joined(separator: ", "))
        if !disagreements.isEmpty {
            let shown = disagreements.prefix(5).map { item in
                "\(item.name): float \(className(item.floatClass)), int8 \(className(item.int8Class))"
                    + (item.label.map { ", label \(className($0))" } ?? "")
            }
            lines.append("disagreements     " + shown.joined(separator: "; ")
                         + (imageCount - agreeing > shown.count ? "; … (\(imageCount - agreeing) in all)" : ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func className(_ index: Int) -> String { index < classNames.count ? classNames[index] : "\(index)" }

    static func percent(_ fraction: Double) -> String { fixed(100 * fraction, 2) + "%" }

    /// `value` with exactly `digits` decimals.
    static func fixed(_ value: Double, _ digits: Int) -> String { SVGBuilder.fixed(value, digits) }

    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    static func padLeft(_ text: String, _ width: Int) -> String {
        text.count >= width ? " " + text : String(repeating: " ", count: width - text.count) + text
    }
}
