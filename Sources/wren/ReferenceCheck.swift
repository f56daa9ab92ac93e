import WrenCore
import WrenNetwork

/// Whether a float checkpoint can stand for a `.wren` model in `run --reference` and `validate`.
/// Another network (depth, width or classes differ) would compare unrelated layers and report
/// nonsense, so it is an error; the same network with other weights is worth a warning only
/// (a fine-tuned or re-exported checkpoint is a fair comparison).
enum ReferenceCheck {
    static func check(
        model: ModelDescription, modelPath: String, reference: WRNArchitecture, referencePath: String, referenceSHA256: String
    ) throws {
        if let mismatch = mismatch(model: model, reference: reference) {
            throw CLIError("the reference \(referencePath) is \(reference) with \(reference.numClasses) classes, but \(modelPath) \(mismatch); "
                           + "compare the model with the checkpoint it was converted from")
        }
        if let source = model.metadataValue("source_sha256"), source != referenceSHA256 {
            Diagnostics.note("warning: \(referencePath) is not the checkpoint \(modelPath) was converted from (SHA-256 differs)")
        }
    }

    /// Two checkpoints compared with each other (`run CHECKPOINT --reference CHECKPOINT`).
    static func check(model: WRNArchitecture, modelPath: String, reference: WRNArchitecture, referencePath: String) throws {
        guard model.description == reference.description, model.numClasses == reference.numClasses else {
            throw CLIError("the reference \(referencePath) is \(reference) with \(reference.numClasses) classes, "
                           + "but \(modelPath) is \(model) with \(model.numClasses) classes")
        }
    }

    /// What differs between `model` and `reference`, as "is WRN-16-2 ..." text, or nil when they match:
    /// the recorded architecture, the classes, and every activation the model stores (names and
    /// channels), so a file without metadata is checked too.
    static func mismatch(model: ModelDescription, reference: WRNArchitecture) -> String? {
        let recorded = model.metadataValue("architecture")
        let modelName = recorded ?? "a network"
        if let recorded, recorded != reference.description {
            return "was converted from \(recorded) with \(model.numClasses) classes"
        }
        if model.numClasses != reference.numClasses { return "has \(model.numClasses) classes" }
        var channels = ["input": 3, "conv1": WRNArchitecture.stemWidth, "relu": reference.groupWidths.last ?? 0]
        for block in reference.blocks {
            channels[block.name + ".relu1"] = block.inChannels
            channels[block.name + ".relu2"] = block.outChannels
            if block.hasShortcut { channels[block.name + ".convShortcut"] = block.outChannels }
            channels[block.name] = block.outChannels
        }
        let stored = Dictionary(model.tensors.map { ($0.name, $0.channels) }, uniquingKeysWith: { first, _ in first })
        for (name, count) in stored where channels[name] != count {
            return channels[name] == nil
                ? "(\(modelName)) has an activation '\(name)' the reference lacks"
                : "(\(modelName)) has \(count) channels in '\(name)', the reference \(channels[name]!)"
        }
        for block in reference.blocks where stored[block.name] == nil {
            return "(\(modelName)) lacks the reference's block '\(block.name)'"
        }
        return nil
    }
}
