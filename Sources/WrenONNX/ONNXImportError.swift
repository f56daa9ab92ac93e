/// Why an ONNX file could not be imported as a WRN. Every case names the problem and where: the
/// file, the initializer (tensor) or the node (its name when it has one, else `#index`, and its
/// op type), as the other importers name the zip entry, pickle offset or tensor key.
public enum ONNXImportError: Error, Equatable, CustomStringConvertible {
    /// swift-protobuf could not decode the bytes as an `onnx.ModelProto` (truncated, malformed,
    /// nested deeper than `ONNXLimits.messageDepthLimit`, invalid UTF-8 in a string field).
    case malformedProtobuf(file: String, reason: String)
    /// The file would make the importer hold more than the limits allow (`limit` is the name of the
    /// `ImportLimits` field, `found` says how much).
    case limitExceeded(file: String, limit: String, value: Int, found: String)
    /// The model has no graph, or its graph has not exactly one input (besides initializers) and
    /// one output.
    case malformedGraph(file: String, reason: String)
    /// An opset of the default domain this importer does not read.
    case unsupportedOpset(file: String, domain: String, version: Int64)
    /// A tensor (initializer or Constant) whose data cannot be read: wrong data type, dims that are
    /// negative or overflow, a byte count that does not match the dims, segments, ...
    case badTensor(file: String, tensor: String, reason: String)
    /// A tensor stored as external data whose location, offset or length is refused or does not fit
    /// the external file (locations must be relative paths inside the model's directory).
    case badExternalData(file: String, tensor: String, location: String, reason: String)
    /// The graph is not a pre-activation WRN: `node` is the first node (in the order the matcher walks
    /// the graph from its input) that does not fit, `expected` says what the WRN needs there.
    case notAWRN(file: String, node: String, expected: String)

    public var description: String {
        switch self {
        case .malformedProtobuf(let file, let reason):
            return "'\(file)' is not a readable ONNX model (onnx.ModelProto): \(reason)"
        case .limitExceeded(let file, let limit, let value, let found):
            return "'\(file)': \(found), more than a model may hold: the limit is ImportLimits.\(limit) = \(value); raise it only for a file you trust"
        case .malformedGraph(let file, let reason):
            return "'\(file)': ONNX graph \(reason)"
        case .unsupportedOpset(let file, let domain, let version):
            return "'\(file)': ONNX opset \(version) of domain '\(domain.isEmpty ? "ai.onnx" : domain)' is not supported (default-domain opsets \(ONNXLimits.supportedOpsets.lowerBound)–\(ONNXLimits.supportedOpsets.upperBound) are)"
        case .badTensor(let file, let tensor, let reason):
            return "'\(file)': ONNX tensor '\(tensor)': \(reason)"
        case .badExternalData(let file, let tensor, let location, let reason):
            return "'\(file)': ONNX tensor '\(tensor)' stored externally in '\(location)': \(reason)"
        case .notAWRN(let file, let node, let expected):
            return "'\(file)' is not a WRN graph this importer knows: node \(node) does not fit (expected \(expected))"
        }
    }
}

/// What an ONNX file may make the importer hold; WrenConvert fills it from its `ImportLimits`.
public struct ONNXLimits: Sendable, Equatable {
    /// The largest model file, external data file or tensor payload (bytes); `ImportLimits.maxFileBytes`.
    public var maxBytes: Int
    /// Nodes, initializers, node inputs/outputs and attributes together; `ImportLimits.maxParsedValues`.
    public var maxValues: Int
    /// swift-protobuf's `messageDepthLimit`: a WRN graph nests 6 levels (model, graph, node,
    /// attribute, tensor, entry); anything deeper is a depth bomb or a graph with subgraphs.
    public var messageDepthLimit: Int

    public init(maxBytes: Int = 2 << 30, maxValues: Int = 1 << 20, messageDepthLimit: Int = 16) {
        self.maxBytes = maxBytes
        self.maxValues = maxValues
        self.messageDepthLimit = messageDepthLimit
    }

    /// Default-domain opsets read: torch.onnx.export writes 13–21 (older exporters 9–12 use the
    /// same operators with attributes where newer opsets take inputs, which the matcher accepts too).
    public static let supportedOpsets: ClosedRange<Int64> = 9...23
}
