import ArgumentParser
import Foundation
import WrenCore
import WrenHost

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a .wren file: version, architecture, metadata and every layer.",
        discussion: reflowed("""
            Validates the whole file first (checksum, every offset and shape), then prints
            one row per layer: operation, input → output shapes (C x H x W per image),
            kernel/stride, the output's int8 scale and zero point, and the bytes of
            constant data the layer carries. Files with int16 tensors (wren convert
            --keep-wider) list them and get a bits column (input → output element bits; *
            marks the layers that run with 16-bit activations).

            --json prints the same as one JSON object, for scripts.

            Examples:
              wren inspect model.wren
              wren inspect model.wren --json
            """))

    @Argument(help: "The .wren file to describe.")
    var model: String

    @Flag(help: "Print one JSON object (file, format, architecture, input, metadata, tensors, layers) instead of text.")
    var json = false

    func run() throws {
        let bytes = try FileSystem.readBytes(model)
        let loaded = try about(model) { try WrenModel(bytes: bytes) }
        let d = loaded.description
        if json {
            try printJSON(d, bytes: bytes.count)
            return
        }
        print("file:         \(model) (\(bytes.count) bytes, CRC-32 \(hex(d.checksum)))")
        print("format:       .wren \(d.majorVersion).\(d.minorVersion)")
        print("architecture: \(d.metadataValue("architecture") ?? "unknown"), \(d.numClasses) classes")
        print("input:        3x\(d.input.height)x\(d.input.width) float32, mean \(d.input.mean), std \(d.input.std)")
        let kernels = try KernelSelection.selectedKernels()
        let arena = ArenaPlan(model: d, maxBatch: 1, kernels: kernels)
        print("arena:        \(arena.size) bytes at batch 1, one thread (\(kernels.name))")
        print("metadata:")
        for entry in d.metadata {
            let value = entry.key == "labels" ? entry.value.split(separator: "\n").joined(separator: ", ") : entry.value
            print("  \(entry.key): \(value)")
        }
        let wideTensors = d.tensors.filter { $0.elementType == .int16 }.map(\.name)
        let wide = !wideTensors.isEmpty
        if wide { print("int16:        \(wideTensors.joined(separator: ", ")) (symmetric, zero point 0; other tensors int8)") }
        print("")
        let rows: [[String]] = d.layers.enumerated().map { index, layer in
            let input = d.tensors[layer.input]
            let output = layer.output.map { d.tensors[$0] }
            let op: String
            switch layer.op {
            case .conv2d: op = "conv \(layer.kernelSize)x\(layer.kernelSize)/\(layer.stride)" + (layer.relu ? "+relu" : "") + (layer.residual != nil ? "+add" : "")
            case .channelAffineReLU: op = "affine+relu"
            case .averagePoolLinear: op = "avgpool+fc f32"
            }
            let constants = layer.weights.length + layer.bias.length + layer.multipliers.length + layer.shifts.length + layer.offsets.length
            var row = [
                "\(index)", output?.name ?? "logits", op, shape(input),
                output.map(shape) ?? "\(d.numClasses)",
                output.map { "\($0.scale)" } ?? "-", output.map { "\($0.zeroPoint)" } ?? "-", "\(constants)",
            ]
            if wide {
                // Input → output element types; "16" marks a layer on the wide (16-bit) kernels.
                row.insert("\(bits(input))→\(output.map(bits) ?? "f32")" + (d.isWide(layer) ? " *" : ""), at: 5)
            }
            return row
        }
        var header = ["#", "name", "op", "input", "output", "scale", "zp", "bytes"]
        if wide { header.insert("bits", at: 5) }
        printTable(header: header, rows: rows)
        if wide { print("* runs with 16-bit activations (int16 tensors kept wider by wren convert --keep-wider)") }
    }

    private func printJSON(_ d: ModelDescription, bytes: Int) throws {
        let kernels = try KernelSelection.selectedKernels()
        // Swift's own description keeps a scale exact and survives any value JSON has no number for.
        func scale(_ value: Float) -> Any { value.isFinite ? Double(value) : "\(value)" }
        let tensors: [[String: Any]] = d.tensors.map { t in
            ["name": t.name, "shape": [t.channels, t.height, t.width], "scale": scale(t.scale), "zeroPoint": Int(t.zeroPoint),
             "type": t.elementType == .int16 ? "int16" : "int8"]
        }
        let layers: [[String: Any]] = d.layers.map { layer in
            var entry: [String: Any] = [
                "op": "\(layer.op)", "input": d.tensors[layer.input].name, "kernelSize": layer.kernelSize, "stride": layer.stride,
                "relu": layer.relu,
                "constantBytes": layer.weights.length + layer.bias.length + layer.multipliers.length + layer.shifts.length + layer.offsets.length,
            ]
            entry["output"] = layer.output.map { d.tensors[$0].name } ?? "logits"
            if let residual = layer.residual { entry["residual"] = d.tensors[residual].name }
            return entry
        }
        let document: [String: Any] = [
            "file": model, "bytes": bytes, "crc32": hex(d.checksum), "format": "\(d.majorVersion).\(d.minorVersion)",
            "architecture": d.metadataValue("architecture") ?? NSNull(), "numClasses": d.numClasses,
            "input": ["shape": [3, d.input.height, d.input.width], "mean": d.input.mean.map(Double.init), "std": d.input.std.map(Double.init)],
            "arenaBytes": ArenaPlan(model: d, maxBatch: 1, kernels: kernels).size, "kernels": kernels.name,
            "metadata": Dictionary(d.metadata.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first }),
            "tensors": tensors, "layers": layers,
        ]
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }

    private func shape(_ t: TensorInfo) -> String { "\(t.channels)x\(t.height)x\(t.width)" }

    private func bits(_ t: TensorInfo) -> String { t.elementType == .int16 ? "16" : "8" }

    private func hex(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

func printTable(header: [String], rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for (index, row) in all.enumerated() {
        let line = row.enumerated().map { $0.element.padding(widths[$0.offset]) }.joined(separator: "  ")
        print(line.hasSuffix(" ") ? String(line.reversed().drop { $0 == " " }.reversed()) : line)
        if index == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
