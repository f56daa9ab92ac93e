/// The graph as the matcher walks it: who produces and who consumes each value, constants by name
/// (initializers and Constant nodes), and `Identity` nodes seen through.
struct ONNXGraphIndex {
    let graph: Onnx_GraphProto
    /// Initializers and Constant nodes' `value` tensors, by the value name they define.
    var constants: [String: Onnx_TensorProto] = [:]
    /// The node index that produces each value.
    var producer: [String: Int] = [:]
    /// Node indices consuming each value (after seeing through Identity), in graph order.
    var consumers: [String: [Int]] = [:]
    /// Identity outputs → the value they forward.
    var alias: [String: String] = [:]
    /// Nodes that compute nothing on the input (Constant, Identity of a constant or of a matched value).
    var passive: Set<Int> = []

    init(graph: Onnx_GraphProto, fileName: String) throws(ONNXImportError) {
        self.graph = graph
        for tensor in graph.initializer {
            guard !tensor.name.isEmpty else { throw .malformedGraph(file: fileName, reason: "has an initializer without a name") }
            guard constants[tensor.name] == nil else { throw .malformedGraph(file: fileName, reason: "defines the initializer '\(tensor.name)' twice") }
            constants[tensor.name] = tensor
        }
        for (index, node) in graph.node.enumerated() {
            for output in node.output where !output.isEmpty {
                guard producer[output] == nil, constants[output] == nil else {
                    throw .notAWRN(file: fileName, node: Self.label(node, index), expected: "each value defined once, but '\(output)' is defined again")
                }
                producer[output] = index
            }
            if node.opType == "Constant" && node.domain.isEmpty {
                guard node.output.count == 1, let value = node.attribute.first(where: { $0.name == "value" }), value.hasT else {
                    throw .notAWRN(file: fileName, node: Self.label(node, index), expected: "a Constant with one tensor 'value'")
                }
                var tensor = value.t
                tensor.name = node.output[0]
                constants[node.output[0]] = tensor
                passive.insert(index)
            }
            if node.opType == "Identity" && node.domain.isEmpty && node.input.count == 1 && node.output.count == 1 {
                alias[node.output[0]] = node.input[0]
                passive.insert(index)
            }
        }
        for (index, node) in graph.node.enumerated() where !passive.contains(index) {
            for input in node.input where !input.isEmpty {
                let resolved = resolve(input)
                if constants[resolved] != nil { continue }
                if consumers[resolved]?.last != index { consumers[resolved, default: []].append(index) }
            }
        }
    }

    /// The value an Identity chain forwards (at most as many steps as there are nodes).
    func resolve(_ name: String) -> String {
        var name = name
        var steps = 0
        while let next = alias[name], steps <= graph.node.count {
            name = next
            steps += 1
        }
        return name
    }

    func constant(_ name: String) -> Onnx_TensorProto? { constants[resolve(name)] }

    static func label(_ node: Onnx_NodeProto, _ index: Int) -> String {
        node.name.isEmpty ? "#\(index) (\(node.opType))" : "'\(node.name)' (#\(index), \(node.opType))"
    }
}
