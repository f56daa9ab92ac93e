import WrenCore
import WrenNetwork

/// Mixed precision as the last resort (`wren convert --keep-wider`, `--auto-keep-wider`): which
/// activation tensors a file stores as int16, and what its metadata says about them.
enum KeepWider {
    /// The tensors to keep wider, in network order: `options.keepWider`, plus, for
    /// `options.autoKeepWider` = K, the K other tensors `wren validate` ranks worst (lowest SQNR
    /// against the float activation) on the calibration inputs, measured on a conversion that keeps
    /// only `options.keepWider` wider (no bias correction: it changes only the logits). Metadata:
    /// `int16_activations` (the names, comma-separated) and `int16_selection` (how they were chosen),
    /// both absent when nothing is kept wider.
    static func choose(
        _ options: ConversionOptions, quantizer: Quantizer, calibration: [Float], count: Int
    ) throws -> (names: [String], metadata: [(key: String, value: String)]) {
        guard options.autoKeepWider >= 0 else { throw ConvertError.invalidOption("--auto-keep-wider takes a count >= 0") }
        var chosen = options.keepWider
        var selection: [String] = []
        if !options.keepWider.isEmpty { selection.append("--keep-wider \(options.keepWider.joined(separator: ","))") }
        if options.autoKeepWider > 0 {
            let ranked = try rankWorst(quantizer: quantizer, calibration: calibration, count: count, kernels: options.kernels)
            let picked = ranked.filter { !chosen.contains($0.name) }.prefix(options.autoKeepWider)
            chosen += picked.map(\.name)
            let measured = picked.map { "\($0.name) \($0.sqnr.map { "\(Double(Int(($0 * 10).rounded())) / 10) dB" } ?? "exact")" }
            selection.append("--auto-keep-wider \(options.autoKeepWider): lowest int8 SQNR on the \(count) calibration inputs ("
                             + measured.joined(separator: ", ") + ")")
        }
        guard !chosen.isEmpty else { return ([], []) }
        // Network order (the quantizer's tensor order), so the metadata reads like `wren validate`'s table.
        var probe = quantizer
        probe.keepWider = []
        let order = try probe.quantize(metadata: []).tensors.map(\.name)
        let names = order.filter { chosen.contains($0) } + chosen.filter { !order.contains($0) }
        return (names, [("int16_activations", names.joined(separator: ",")), ("int16_selection", selection.joined(separator: "; "))])
    }

    /// Every int8 tensor with a float counterpart, worst first, as `Validator` ranks them.
    static func rankWorst(
        quantizer: Quantizer, calibration: [Float], count: Int, kernels: KernelTable
    ) throws -> [(name: String, sqnr: Double?)] {
        var first = quantizer
        let bytes = ModelWriter.write(try first.quantize(metadata: []))
        let model = try WrenModel(bytes: bytes)
        let inputs = Validator.Inputs(values: calibration, count: count, names: (0..<count).map { "calibration[\($0)]" }, labels: nil)
        let report = try Validator.validate(
            model: model, reference: quantizer.model, inputs: inputs, modelFile: "(first pass)", referenceFile: "(float)",
            chunk: 32, kernels: kernels)
        let int8 = Set(model.description.tensors.filter { $0.elementType == .int8 }.map(\.name))
        return report.layers.filter { int8.contains($0.name) }
            .sorted { Validator.rank($0) < Validator.rank($1) }
            .map { ($0.name, $0.sqnrDB) }
    }
}
