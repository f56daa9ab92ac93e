import Foundation
import SwiftProtobuf
import WrenNetwork

/// Reads an ONNX model (`onnx.ModelProto`, protobuf) holding a pre-activation WRN and returns its
/// parameters under the PyTorch state-dict keys (`conv1.weight`, `block1.layer.0.bn1.running_mean`,
/// ..., `fc.bias`), the same structure the `.pth` importer produces.
///
/// What is accepted: graphs as `torch.onnx.export` (TorchScript or dynamo exporter) and paddle2onnx
/// write them, opsets 9–23 of the default domain, with or without `bn2` folded into `conv1`, the
/// head as GlobalAveragePool / AveragePool / ReduceMean, then Flatten / Reshape / Squeeze, then Gemm
/// or MatMul + Add (`WRNGraphMatcher` lists the topology). Initializers may be stored as external
/// data in files inside the model's directory.
///
/// What the bytes may not do: nest messages deeper than `limits.messageDepthLimit`, hold more than
/// `limits.maxValues` nodes + values, or tensors of more than `limits.maxBytes` in all; tensors are
/// checked against their dims before any value is read (`ONNXTensorReader`).
public enum ONNXImporter {
    /// The state dict of the WRN in `bytes` (the model file's content). `directory` is where
    /// external data is looked up (nil: external data is refused).
    public static func stateDict(
        bytes: [UInt8], fileName: String, directory: String?, limits: ONNXLimits = ONNXLimits()
    ) throws(ONNXImportError) -> [String: FloatTensor] {
        guard bytes.count <= limits.maxBytes else {
            throw .limitExceeded(file: fileName, limit: "maxFileBytes", value: limits.maxBytes, found: "the file is \(bytes.count) bytes")
        }
        // Before decoding: what swift-protobuf would allocate for nodes, attributes, strings, ...
        let messages = ONNXPreScan.count(bytes, depthLimit: limits.messageDepthLimit, cap: limits.maxValues)
        guard messages <= limits.maxValues else {
            throw .limitExceeded(file: fileName, limit: "maxParsedValues", value: limits.maxValues,
                                 found: "the model holds more than \(limits.maxValues) messages and strings")
        }
        let model = try decode(bytes, fileName: fileName, limits: limits)
        try checkOpsets(model, fileName: fileName)
        guard model.hasGraph else { throw .malformedGraph(file: fileName, reason: "is missing: the model has no graph") }
        let graph = model.graph
        var values = graph.node.count + graph.initializer.count + graph.input.count + graph.output.count
        for node in graph.node { values += node.input.count + node.output.count + node.attribute.count }
        guard values <= limits.maxValues else {
            throw .limitExceeded(file: fileName, limit: "maxParsedValues", value: limits.maxValues,
                                 found: "the graph holds \(values) nodes, values and attributes")
        }
        let index = try ONNXGraphIndex(graph: graph, fileName: fileName)
        var matcher = WRNGraphMatcher(index: index, fileName: fileName,
                                      reader: ONNXTensorReader(fileName: fileName, directory: directory, limits: limits))
        return try matcher.stateDict()
    }

    static func decode(_ bytes: [UInt8], fileName: String, limits: ONNXLimits) throws(ONNXImportError) -> Onnx_ModelProto {
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = limits.messageDepthLimit
        options.discardUnknownFields = true
        do {
            return try Onnx_ModelProto(serializedBytes: bytes, extensions: nil, partial: false, options: options)
        } catch let error as BinaryDecodingError {
            throw .malformedProtobuf(file: fileName, reason: reason(error, limits: limits))
        } catch {
            throw .malformedProtobuf(file: fileName, reason: "\(error)")
        }
    }

    static func reason(_ error: BinaryDecodingError, limits: ONNXLimits) -> String {
        switch error {
        case .truncated: return "the protobuf data is truncated"
        case .malformedProtobuf: return "the protobuf data is malformed"
        case .invalidUTF8: return "a string field is not valid UTF-8"
        case .messageDepthLimit: return "messages nest deeper than \(limits.messageDepthLimit) levels"
        case .missingRequiredFields: return "required fields are missing"
        default: return "\(error)"
        }
    }

    static func checkOpsets(_ model: Onnx_ModelProto, fileName: String) throws(ONNXImportError) {
        var sawDefault = false
        for opset in model.opsetImport where opset.domain.isEmpty || opset.domain == "ai.onnx" {
            sawDefault = true
            guard ONNXLimits.supportedOpsets.contains(opset.version) else {
                throw .unsupportedOpset(file: fileName, domain: opset.domain, version: opset.version)
            }
        }
        guard sawDefault else { throw .malformedGraph(file: fileName, reason: "imports no opset of the default domain (ai.onnx)") }
    }

    /// Whether `bytes` look like an `onnx.ModelProto`: the top-level protobuf fields, walked to the
    /// end of the file, are all ModelProto fields with their wire types, and one is the graph (field 7);
    /// or, for a truncated file, they start with `ir_version` (field 1) and are all ModelProto fields
    /// up to one that runs past the end.
    /// Cheap (one step per top-level field) and it never allocates; CheckpointLoader asks it after
    /// the zip, safetensors and pickle checks.
    public static func looksLikeONNX(_ bytes: [UInt8]) -> Bool {
        // ModelProto field number → wire type: 0 varint, 2 length-delimited.
        let wireTypes: [UInt64: UInt64] = [1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2]
        var position = 0, sawGraph = false, fields = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            for shift in stride(from: 0 as UInt64, to: 64, by: 7) {
                guard position < bytes.count else { return nil }
                let byte = bytes[position]
                position += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
            }
            return nil
        }
        var firstField: UInt64 = 0
        while position < bytes.count {
            guard let key = varint() else { return false }
            let field = key >> 3, wire = key & 7
            guard let expected = wireTypes[field], expected == wire else { return false }
            if fields == 0 { firstField = field }
            if wire == 0 {
                guard varint() != nil else { return false }
            } else {
                guard let length = varint() else { return false }
                // A length-delimited field running past the end: a truncated model, if it began as
                // every exporter begins one (ir_version, then producer fields, in field order), so
                // the decoder can say it is truncated.
                if length > UInt64(bytes.count - position) { return firstField == 1 && fields >= 1 && field != 1 }
                position += Int(length)
            }
            if field == 7 { sawGraph = true }
            fields += 1
        }
        return sawGraph && fields >= 2
    }
}
