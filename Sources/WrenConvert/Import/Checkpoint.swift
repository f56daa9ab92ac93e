import Foundation
import WrenNetwork

/// A trained network's float tensors, as imported from a checkpoint file.
public struct Checkpoint: Sendable {
    /// Floating-point tensors by canonical PyTorch key (`conv1.weight`, `block1.layer.0.bn1.running_mean`, ...).
    /// Integer tensors such as `num_batches_tracked` are not included.
    public var tensors: [String: FloatTensor]
    /// SHA-256 of the file's bytes, lowercase hex: identifies exactly which checkpoint was converted.
    public var sha256: String
    /// The file name (last path component) the checkpoint was read from.
    public var sourceName: String
    /// A `.safetensors` file's `__metadata__` (string to string); empty for other formats.
    /// `wren train` writes the class names, mean and std there (`TrainingMetadata`).
    public var metadata: [String: String]

    public init(tensors: [String: FloatTensor], sha256: String, sourceName: String, metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.sha256 = sha256
        self.sourceName = sourceName
        self.metadata = metadata
    }
}

/// Opens a checkpoint file, choosing the reader from the file's content rather than its extension:
/// a zip is a `torch.save` checkpoint, a bare pickle (protocol 2+, first byte 0x80) a PaddlePaddle
/// `.pdparams`, and 8 bytes followed by `{` a `.safetensors` file.
public enum CheckpointLoader {
    /// `torch.save` wrote a pickle of this integer first in its pre-1.6 format:
    /// PROTO 2, LONG1 of 10 bytes, 0x1950a86a20f9469cfc6c little-endian.
    static let legacyTorchMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    static let zipLocalHeader: [UInt8] = [0x50, 0x4B, 0x03, 0x04]

    /// Loads the checkpoint at `path`. Throws `ImportError` (or `SafetensorsError` for a
    /// `.safetensors` file) naming the file and what is wrong with it.
    public static func load(path: String) throws -> Checkpoint {
        let url = URL(fileURLWithPath: path)
        let fileName = url.lastPathComponent
        let data: Data
        do {
            data = try Data(contentsOf: url)  // read, not mapped: the hash and the parse see the same bytes
        } catch {
            throw ImportError.unreadableFile(path: path, reason: error.localizedDescription)
        }
        let head = [UInt8](data.prefix(legacyTorchMagic.count))
        let tensors: [String: FloatTensor]
        var metadata: [String: String] = [:]
        if head.starts(with: zipLocalHeader) {
            tensors = try TorchCheckpoint.floatTensors(zipData: data, fileName: fileName)
        } else if head.starts(with: legacyTorchMagic) {
            throw ImportError.legacyTorchFormat(file: fileName)
        } else if head.first == 0x80 {
            tensors = try PaddleCheckpoint.floatTensors(pickle: [UInt8](data), fileName: fileName)
        } else if SafetensorsCheckpoint.looksLikeSafetensors([UInt8](data.prefix(9))) {
            let bytes = [UInt8](data)
            tensors = try SafetensorsCheckpoint.floatTensors(bytes, fileName: fileName)
            metadata = try SafetensorsCheckpoint.readHeader(bytes, fileName: fileName).metadata
        } else {
            throw ImportError.unrecognizedFormat(file: fileName, firstBytes: head.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " "))
        }
        let digest = data.withUnsafeBytes { sha256Hex($0) }
        return Checkpoint(tensors: tensors, sha256: digest, sourceName: fileName, metadata: metadata)
    }
}

/// The keys `wren train` writes into a checkpoint's safetensors metadata, and their reading back.
/// Values are strings: class names one per line, mean and std as three comma-separated numbers.
public enum TrainingMetadata {
    public static let labels = "wren.labels"
    public static let mean = "wren.mean"
    public static let std = "wren.std"
    public static let architecture = "wren.architecture"
    public static let recipe = "wren.recipe"
    public static let inputSize = "wren.input_size"

    /// The class names, or nil when the metadata has none.
    public static func labels(_ metadata: [String: String]) -> [String]? {
        guard let text = metadata[labels], !text.isEmpty else { return nil }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// Three finite numbers stored under `key`, or nil when absent or malformed.
    public static func triple(_ metadata: [String: String], _ key: String) -> [Float]? {
        guard let text = metadata[key] else { return nil }
        let values = text.split(separator: ",").compactMap { Float($0) }
        return values.count == 3 && values.allSatisfy(\.isFinite) ? values : nil
    }
}
