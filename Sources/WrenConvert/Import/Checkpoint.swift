import Foundation
import WrenFiles
import Glibc
import WrenNetwork
import WrenONNX

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
/// `.pdparams`, 8 bytes followed by `{` a `.safetensors` file, and protobuf whose top-level fields
/// are all `onnx.ModelProto` fields (one of them the graph) an ONNX model (WrenONNX).
public enum CheckpointLoader {
    /// `torch.save` wrote a pickle of this integer first in its pre-1.6 format:
    /// PROTO 2, LONG1 of 10 bytes, 0x1950a86a20f9469cfc6c little-endian.
    static let legacyTorchMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]
    static let zipLocalHeader: [UInt8] = [0x50, 0x4B, 0x03, 0x04]

    /// Loads the checkpoint at `path`. Throws `ImportError` (or `SafetensorsError` for a
    /// `.safetensors` file, `ONNXImportError` for an ONNX model) naming the file and what is wrong
    /// with it, including a file that would make the importer hold more than `limits` allow, or
    /// whose tensors are not finite. An ONNX model's external data is read from the file's directory.
    public static func load(path: String, limits: ImportLimits = .default) throws -> Checkpoint {
        let url = URL(fileURLWithPath: path)
        let fileName = url.lastPathComponent
        // Read, not mapped: the hash and the parse see the same bytes.
        let bytes = try readFile(path: path, fileName: fileName, limit: limits.maxFileBytes)
        let (tensors, metadata) = try Self.tensors(bytes, fileName: fileName, directory: url.deletingLastPathComponent().path, limits: limits)
        return Checkpoint(tensors: tensors, sha256: sha256Hex(bytes), sourceName: fileName, metadata: metadata)
    }

    /// The checkpoint's float tensors and (safetensors only) metadata, from the file's bytes: what
    /// `load` does once the file is read (and what the `convert` fuzz target runs).
    /// `directory` is where an ONNX model's external data lives (nil: external data is refused).
    static func tensors(
        _ bytes: [UInt8], fileName: String, directory: String? = nil, limits: ImportLimits = .default
    ) throws -> (tensors: [String: FloatTensor], metadata: [String: String]) {
        let head = Array(bytes.prefix(legacyTorchMagic.count))
        let tensors: [String: FloatTensor]
        var metadata: [String: String] = [:]
        if head.starts(with: zipLocalHeader) {
            // ZIPFoundation reads `Data`; this one borrows the bytes instead of copying them.
            tensors = try bytes.withUnsafeBytes { raw in
                let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: raw.baseAddress!), count: raw.count, deallocator: .none)
                return try TorchCheckpoint.floatTensors(zipData: data, fileName: fileName, limits: limits)
            }
        } else if head.starts(with: legacyTorchMagic) {
            throw ImportError.legacyTorchFormat(file: fileName)
        } else if SafetensorsCheckpoint.looksLikeSafetensors(Array(bytes.prefix(9))) {
            // Before the pickle test: a header length whose low byte is 0x80 starts with a pickle's
            // PROTO byte, while no pickle has `{` (no opcode) at offset 8.
            (tensors, metadata) = try SafetensorsCheckpoint.floatTensorsAndMetadata(bytes, fileName: fileName, limits: limits)
        } else if head.first == 0x80 {
            tensors = try PaddleCheckpoint.floatTensors(pickle: bytes, fileName: fileName, limits: limits)
        } else if ONNXImporter.looksLikeONNX(bytes) {
            // Last: protobuf has no magic number, so only a file no other format claims is tried as
            // an ONNX ModelProto (its first byte is a field tag such as 0x08, ir_version).
            let onnxLimits = ONNXLimits(maxBytes: limits.maxFileBytes, maxValues: limits.maxParsedValues)
            tensors = try ONNXImporter.stateDict(bytes: bytes, fileName: fileName, directory: directory, limits: onnxLimits)
        } else {
            throw ImportError.unrecognizedFormat(file: fileName, firstBytes: head.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " "))
        }
        try requireFinite(tensors, fileName: fileName)
        return (tensors, metadata)
    }

    /// Refuses infinities and NaNs (in key order, so the error names the same tensor every time):
    /// calibration and quantization could only turn them into traps or garbage.
    static func requireFinite(_ tensors: [String: FloatTensor], fileName: String) throws(ImportError) {
        for key in tensors.keys.sorted() {
            if let index = tensors[key]!.data.firstIndex(where: { !$0.isFinite }) {
                throw .nonFiniteValue(file: fileName, key: key, index: index, value: tensors[key]!.data[index])
            }
        }
    }

    /// The whole file, refused before reading when it is larger than `limit` (regular files) or as
    /// soon as reading passes it (pipes and devices, whose size is not known in advance).
    static func readFile(path: String, fileName: String, limit: Int) throws(ImportError) -> [UInt8] {
        do {
            return try FileBytes.read(path: path, limit: limit)
        } catch {
            if let size = error.oversize {
                throw .limitExceeded(file: fileName, limit: .maxFileBytes, value: limit, found: "the file is \(size) bytes")
            }
            throw .unreadableFile(path: path, reason: error.reason)
        }
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
