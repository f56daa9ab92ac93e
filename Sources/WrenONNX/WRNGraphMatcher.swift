import WrenNetwork

/// Matches an ONNX graph against the pre-activation WRN by its topology (never by node or value
/// names) and returns the parameters under the state-dict keys the PyTorch implementation uses.
///
/// The walk starts at the graph's one input and follows the data:
///
///     x ─ Conv 3x3/1 (stem) ─┬─ per block ─────────────────────────────────────────────────────┐
///        BatchNormalization (bn1) ─ Relu ─┬─ Conv 3x3/s (conv1) ─ [BatchNormalization (bn2)] ─ Relu
///                                         │    ─ Conv 3x3/1 (conv2) ─ Add ─ (next block's stream)
///                                         └─ Conv 1x1/s (convShortcut) ─┘  (or the raw stream, when
///                                                                           in == out, goes to Add)
///     ─ BatchNormalization (final bn1) ─ Relu ─ GlobalAveragePool | AveragePool k×k | ReduceMean{2,3}
///     ─ [Flatten(1) | Reshape(-1, C) | Squeeze{2,3}] ─ Gemm | MatMul + Add ─ the graph's one output
///
/// `bn2` may be absent: an exporter that folded it into `conv1` (torch.onnx.export in eval mode)
/// leaves `conv1` with a bias, which becomes `conv1.bias` (with an identity `bn2`) and gives every
/// other conv a zero bias, as the PaddlePaddle port has them. The first block's `bn1` may be folded
/// into the stem the same way: the exporter does so when the stem's output feeds only that batch
/// norm, i.e. when the first block widens (k > 1, no identity shortcut reads the raw stream). Identity nodes are seen through;
/// Constant nodes supply constants. Any node on the way that is not what the WRN needs there, and
/// any node left over after the walk, is reported by name as the first node that does not fit.
struct WRNGraphMatcher {
    let index: ONNXGraphIndex
    let fileName: String
    var reader: ONNXTensorReader
    private(set) var matched: Set<Int> = []
    /// The graph input's batch size when it is a fixed number.
    var batch: Int64?

    struct Conv {
        var node: Int
        var weight: FloatTensor
        var bias: [Float]?
        var stride: Int
        /// The convolution's result: its own output, or that of the bias Add paddle2onnx puts after it.
        var output: String
    }
    struct BN {
        var node: Int
        var gamma: [Float], beta: [Float], mean: [Float], variance: [Float]
    }
    struct Block {
        var bn1: BN
        var conv1: Conv
        var bn2: BN?
        var conv2: Conv
        var shortcut: Conv?
    }

    init(index: ONNXGraphIndex, fileName: String, reader: ONNXTensorReader) {
        self.index = index
        self.fileName = fileName
        self.reader = reader
    }

    var nodes: [Onnx_NodeProto] { index.graph.node }

    func fail(_ node: Int, _ expected: String) -> ONNXImportError {
        .notAWRN(file: fileName, node: ONNXGraphIndex.label(nodes[node], node), expected: expected)
    }

    // MARK: The walk

    mutating func stateDict() throws(ONNXImportError) -> [String: FloatTensor] {
        let graph = index.graph
        let inputs = graph.input.filter { index.constants[$0.name] == nil }
        guard inputs.count == 1 else {
            throw .malformedGraph(file: fileName, reason: "has \(inputs.count) inputs besides its initializers (\(inputs.map { "'\($0.name)'" }.joined(separator: ", "))); a WRN has one, the image batch")
        }
        guard graph.output.count == 1 else {
            throw .malformedGraph(file: fileName, reason: "has \(graph.output.count) outputs; a WRN has one, the logits")
        }
        let input = inputs[0]
        let (spatial, fixedBatch) = try inputSize(input)
        batch = fixedBatch

        // Stem.
        let stemNode = try onlyConsumer(of: input.name, after: nil, op: "Conv", role: "the stem convolution (Conv 3x3, stride 1, 16 channels)")
        let stem = try conv(stemNode, input: input.name, kernel: 3, role: "the stem convolution")
        guard stem.stride == 1, stem.weight.shape == [WRNArchitecture.stemWidth, 3, 3, 3] else {
            throw fail(stemNode, "the stem convolution: weight [16, 3, 3, 3], stride 1 (found weight \(stem.weight.shape), stride \(stem.stride))")
        }
        var stream = stem.output
        var blocks: [Block] = []
        var finalBN: BN
        var relu: Int
        // Blocks until the stream's batch norm + ReLU feeds a pooling node instead of convolutions.
        while true {
            // Every block matches at least five nodes of its own: a walk longer than the graph has
            // gone round a cycle (values are defined once, so none should exist; this keeps it finite).
            guard blocks.count <= nodes.count else { throw fail(index.producer[stream]!, "an acyclic graph") }
            let users = index.consumers[stream] ?? []
            let bn1: BN
            let reluIndex: Int
            if blocks.isEmpty, users.count == 1, nodes[users[0]].opType == "Relu", stem.bias != nil {
                // The first block's bn1, folded into the stem by the exporter: identity here, the stem keeps its bias.
                reluIndex = users[0]
                try plain(reluIndex, input: stream)
                bn1 = Self.identityBatchNorm(node: stemNode, channels: stem.weight.shape[0])
            } else {
                guard let bnIndex = users.first(where: { nodes[$0].opType == "BatchNormalization" }) else {
                    if let first = users.first { throw fail(first, "BatchNormalization (a block's bn1 or the final bn1)") }
                    throw fail(index.producer[stream]!, "its output to go on to a BatchNormalization (bn1); nothing consumes it")
                }
                bn1 = try batchNorm(bnIndex, input: stream)
                reluIndex = try onlyConsumer(of: output(bnIndex), after: bnIndex, op: "Relu", role: "Relu after bn1")
                try plain(reluIndex, input: output(bnIndex))
            }
            let activated = output(reluIndex)
            let next = index.consumers[activated] ?? []
            let others = users.filter { $0 != bn1.node && $0 != reluIndex }
            if next.count == 1, Self.poolOps.contains(nodes[next[0]].opType) {
                if let extra = others.first { throw fail(extra, "nothing else reading the stream before the final bn1") }
                finalBN = bn1
                relu = reluIndex
                break
            }
            let (matchedBlock, sum) = try block(bn1: bn1, relu: reluIndex, stream: stream, otherReaders: others)
            blocks.append(matchedBlock)
            stream = sum
        }

        // Head.
        let classifierInput = try poolAndFlatten(after: relu, channels: finalBN.gamma.count, spatial: spatial, strides: [stem.stride] + blocks.map(\.conv1.stride))
        let fc = try classifier(classifierInput, features: finalBN.gamma.count)
        if let after = index.consumers[fc.output]?.first {
            throw fail(after, "nothing after the classifier: its output is the WRN's logits, the graph's output")
        }
        guard index.resolve(graph.output[0].name) == fc.output else {
            throw fail(fc.node, "its output to be the graph's output '\(graph.output[0].name)'")
        }
        if let stray = nodes.indices.first(where: { !matched.contains($0) && !index.passive.contains($0) }) {
            throw fail(stray, "nothing besides the WRN (this node is not on the path from the input to the logits)")
        }
        return try assemble(stem: stem, blocks: blocks, finalBN: finalBN, fcWeight: fc.weight, fcBias: fc.bias, classifierNode: fc.node)
    }

    /// One residual block from its bn1 + ReLU on, and the residual Add's output (the next stream).
    private mutating func block(bn1: BN, relu: Int, stream: String, otherReaders: [Int]) throws(ONNXImportError) -> (Block, String) {
        let activated = output(relu)
        let users = index.consumers[activated] ?? []
        var conv1Node: Int?, shortcutNode: Int?
        for user in users {
            guard nodes[user].opType == "Conv", nodes[user].input.count >= 2, let weight = index.constant(nodes[user].input[1]) else {
                throw fail(user, "a block's conv1 (Conv 3x3) or convShortcut (Conv 1x1) after bn1's ReLU")
            }
            let kernel = weight.dims.count == 4 ? weight.dims[2] : -1
            if kernel == 3 && conv1Node == nil { conv1Node = user } else if kernel == 1 && shortcutNode == nil { shortcutNode = user } else {
                throw fail(user, "a block's conv1 (Conv 3x3) or convShortcut (Conv 1x1) after bn1's ReLU, once each (found weight dims \(weight.dims))")
            }
        }
        guard let conv1Node else { throw fail(relu, "its output to feed a block's conv1 (Conv 3x3)") }
        let conv1 = try conv(conv1Node, input: activated, kernel: 3, role: "a block's conv1")
        let shortcut: Conv? = try shortcutNode.map { node throws(ONNXImportError) in try conv(node, input: activated, kernel: 1, role: "a block's convShortcut") }

        // conv1 → [bn2] → Relu → conv2.
        var after = conv1.output
        var bn2: BN?
        guard let next = (index.consumers[after] ?? []).first else { throw fail(index.producer[after]!, "its output to feed bn2 or a ReLU") }
        if nodes[next].opType == "BatchNormalization" {
            let bnNode = try onlyConsumer(of: after, after: index.producer[after]!, op: "BatchNormalization", role: "bn2")
            bn2 = try batchNorm(bnNode, input: after)
            after = output(bnNode)
        }
        let relu2 = try onlyConsumer(of: after, after: index.producer[after]!, op: "Relu", role: bn2 == nil ? "bn2 or its ReLU after conv1" : "Relu after bn2")
        try plain(relu2, input: after)
        let conv2Node = try onlyConsumer(of: output(relu2), after: relu2, op: "Conv", role: "a block's conv2 (Conv 3x3, stride 1)")
        let conv2 = try conv(conv2Node, input: output(relu2), kernel: 3, role: "a block's conv2")
        guard conv2.stride == 1 else { throw fail(conv2Node, "a block's conv2 with stride 1 (found \(conv2.stride))") }

        // The residual Add: conv2 + (shortcut(relu(bn1(x))) or the raw stream x).
        let add = try onlyConsumer(of: conv2.output, after: index.producer[conv2.output]!, op: "Add", role: "the block's residual Add")
        let residual = shortcut?.output ?? stream
        let operands = nodes[add].input.map { index.resolve($0) }
        guard nodes[add].attribute.isEmpty, nodes[add].output.count == 1, operands.count == 2,
              Set(operands) == Set([conv2.output, residual]) else {
            throw fail(add, shortcut == nil
                ? "the residual Add of conv2's output and the block's raw input (in == out: no shortcut conv)"
                : "the residual Add of conv2's output and the convShortcut's output")
        }
        if let shortcut {
            guard index.consumers[shortcut.output] == [add] else { throw fail(shortcut.node, "its output to go only to the residual Add") }
            if let extra = otherReaders.first { throw fail(extra, "nothing else reading the stream (a block with a convShortcut adds the shortcut, not the raw input)") }
        } else {
            guard otherReaders == [add] else {
                throw fail(otherReaders.first(where: { $0 != add }) ?? add, "the residual Add reading the block's raw input (in == out: no shortcut conv)")
            }
        }
        matched.insert(add)
        return (Block(bn1: bn1, conv1: conv1, bn2: bn2, conv2: conv2, shortcut: shortcut), output(add))
    }

    static let poolOps: Set<String> = ["GlobalAveragePool", "AveragePool", "ReduceMean"]

    /// The pooling node after the final ReLU and the optional flattening; returns the value holding [N, C].
    private mutating func poolAndFlatten(after relu: Int, channels: Int, spatial: (Int, Int)?, strides: [Int]) throws(ONNXImportError) -> String {
        let pool = index.consumers[output(relu)]![0]
        let node = nodes[pool]
        try dataInput(pool, output(relu))
        var keepsDims = true
        switch node.opType {
        case "GlobalAveragePool":
            try allowOnly(pool, [])
        case "AveragePool":
            try allowOnly(pool, ["kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad", "dilations"])
            let kernel = attribute(pool, "kernel_shape")?.ints ?? []
            guard let spatial else {
                throw fail(pool, "GlobalAveragePool: an AveragePool can only be checked to cover the whole map when the graph's input has a fixed height and width")
            }
            var (height, width) = spatial
            for stride in strides { height = (height - 1) / stride + 1; width = (width - 1) / stride + 1 }
            let pads = attribute(pool, "pads")?.ints ?? []
            let autoPad = attribute(pool, "auto_pad").map { String(decoding: $0.s, as: UTF8.self) } ?? "NOTSET"
            let dilations = attribute(pool, "dilations")?.ints ?? []
            guard kernel == [Int64(height), Int64(width)], pads.allSatisfy({ $0 == 0 }), ["NOTSET", "VALID"].contains(autoPad),
                  dilations.allSatisfy({ $0 == 1 }) else {
                throw fail(pool, "an AveragePool over the whole \(height)x\(width) map (kernel_shape [\(height), \(width)], no padding), found kernel_shape \(kernel), pads \(pads)")
            }
        default:  // ReduceMean
            try allowOnly(pool, ["axes", "keepdims", "noop_with_empty_axes"])
            var axes = attribute(pool, "axes")?.ints
            if node.input.count >= 2, !node.input[1].isEmpty {
                guard axes == nil, let tensor = index.constant(node.input[1]) else { throw fail(pool, "ReduceMean with constant axes") }
                axes = try reader.integers(tensor)
            }
            let normalized = Set((axes ?? []).map { $0 < 0 ? $0 + 4 : $0 })
            guard normalized == [2, 3], axes!.count == 2 else {
                throw fail(pool, "ReduceMean over the spatial axes [2, 3] (found axes \(axes.map { "\($0)" } ?? "none: all axes"))")
            }
            keepsDims = (attribute(pool, "keepdims")?.i ?? 1) != 0
        }
        matched.insert(pool)
        guard node.output.count == 1 else { throw fail(pool, "one output") }
        var value = output(pool)
        if !keepsDims { return value }

        // [N, C, 1, 1] → [N, C].
        guard let flatten = (index.consumers[value] ?? []).first, index.consumers[value]!.count == 1 else {
            throw fail(pool, "its output to feed one Flatten, Reshape, Squeeze or the classifier")
        }
        let flat = nodes[flatten]
        switch flat.opType {
        case "Flatten":
            try allowOnly(flatten, ["axis"])
            guard (attribute(flatten, "axis")?.i ?? 1) == 1 else { throw fail(flatten, "Flatten with axis 1") }
            try dataInput(flatten, value)
        case "Reshape":
            try allowOnly(flatten, ["allowzero"])
            guard flat.input.count == 2, index.resolve(flat.input[0]) == value, let shapeTensor = index.constant(flat.input[1]) else {
                throw fail(flatten, "Reshape of the pooled values to a constant shape")
            }
            let shape = try reader.integers(shapeTensor)
            let c = Int64(channels)
            let allowZero = (attribute(flatten, "allowzero")?.i ?? 0) != 0
            // [N, C] with N the input's fixed batch size is what the dynamo exporter writes for a fixed-shape export.
            let fixedBatch = batch.map { shape.count == 2 && shape[0] == $0 && (shape[1] == c || shape[1] == -1) } ?? false
            let fits = fixedBatch || shape.count == 2 && ((shape[0] == -1 && shape[1] == c) || (shape[0] == 0 && !allowZero && (shape[1] == -1 || shape[1] == c)))
            guard fits else { throw fail(flatten, "Reshape to [-1, \(channels)], [0, -1] or [batch, \(channels)] (found \(shape))") }
        case "Squeeze":
            try allowOnly(flatten, ["axes"])
            var axes = attribute(flatten, "axes")?.ints
            if flat.input.count >= 2 {
                guard axes == nil, let tensor = index.constant(flat.input[1]) else { throw fail(flatten, "Squeeze with constant axes") }
                axes = try reader.integers(tensor)
            }
            guard index.resolve(flat.input[0]) == value, let axes, axes.count == 2, Set(axes.map { $0 < 0 ? $0 + 4 : $0 }) == [2, 3] else {
                throw fail(flatten, "Squeeze of the spatial axes [2, 3]")
            }
        default:
            return value  // Gemm / MatMul straight on [N, C, 1, 1] is not a WRN head; classifier() names it.
        }
        guard flat.output.count == 1 else { throw fail(flatten, "one output") }
        matched.insert(flatten)
        value = output(flatten)
        return value
    }

    /// Gemm, or MatMul + Add, on the [N, C] features: fc.weight as [classes, C] and fc.bias.
    private mutating func classifier(_ features: String, features channels: Int) throws(ONNXImportError) -> (node: Int, output: String, weight: FloatTensor, bias: FloatTensor) {
        guard let first = (index.consumers[features] ?? []).first, index.consumers[features]!.count == 1 else {
            throw fail(index.producer[features]!, "its output to feed the classifier (Gemm, or MatMul + Add)")
        }
        let node = nodes[first]
        switch node.opType {
        case "Gemm":
            try allowOnly(first, ["alpha", "beta", "transA", "transB"])
            guard node.input.count == 3, index.resolve(node.input[0]) == features,
                  let weightTensor = index.constant(node.input[1]), let biasTensor = index.constant(node.input[2]),
                  (attribute(first, "alpha")?.f ?? 1) == 1, (attribute(first, "beta")?.f ?? 1) == 1,
                  (attribute(first, "transA")?.i ?? 0) == 0 else {
                throw fail(first, "the classifier Gemm(features, constant weight, constant bias) with alpha = beta = 1, transA = 0")
            }
            var weight = try reader.floatTensor(weightTensor)
            if (attribute(first, "transB")?.i ?? 0) == 0 { weight = try transposed(weight, node: first) }
            let bias = try classifierBias(reader.floatTensor(biasTensor), node: first)
            try checkClassifier(weight, bias, channels: channels, node: first)
            guard node.output.count == 1 else { throw fail(first, "one output") }
            matched.insert(first)
            return (first, output(first), weight, bias)
        case "MatMul":
            guard node.input.count == 2, index.resolve(node.input[0]) == features, let weightTensor = index.constant(node.input[1]), node.attribute.isEmpty else {
                throw fail(first, "the classifier MatMul(features, constant weight [\(channels), classes])")
            }
            let weight = try transposed(reader.floatTensor(weightTensor), node: first)
            matched.insert(first)
            let addIndex = try onlyConsumer(of: output(first), after: first, op: "Add", role: "the classifier's bias Add after MatMul")
            let add = nodes[addIndex]
            let operands = add.input.map { index.resolve($0) }
            guard add.attribute.isEmpty, operands.count == 2, let product = operands.firstIndex(of: output(first)),
                  let biasTensor = index.constant(add.input[1 - product]) else {
                throw fail(addIndex, "the classifier's Add of MatMul's output and a constant bias")
            }
            let bias = try classifierBias(reader.floatTensor(biasTensor), node: addIndex)
            try checkClassifier(weight, bias, channels: channels, node: first)
            matched.insert(addIndex)
            return (addIndex, output(addIndex), weight, bias)
        default:
            throw fail(first, "the classifier: Gemm, or MatMul + Add, on the pooled [N, \(channels)] features")
        }
    }

    private func classifierBias(_ bias: FloatTensor, node: Int) throws(ONNXImportError) -> FloatTensor {
        if bias.shape.count == 2 && bias.shape[0] == 1 { return FloatTensor(shape: [bias.shape[1]], data: bias.data) }
        guard bias.shape.count == 1 else { throw fail(node, "a classifier bias of shape [classes] (found \(bias.shape))") }
        return bias
    }

    private func checkClassifier(_ weight: FloatTensor, _ bias: FloatTensor, channels: Int, node: Int) throws(ONNXImportError) {
        guard weight.shape.count == 2, weight.shape[1] == channels, weight.shape[0] >= 1, bias.shape == [weight.shape[0]] else {
            throw fail(node, "a classifier from \(channels) features (weight [classes, \(channels)] as fc.weight, bias [classes]), found weight \(weight.shape), bias \(bias.shape)")
        }
    }

    private func transposed(_ tensor: FloatTensor, node: Int) throws(ONNXImportError) -> FloatTensor {
        guard tensor.shape.count == 2 else { throw fail(node, "a 2-D classifier weight (found \(tensor.shape))") }
        let rows = tensor.shape[0], columns = tensor.shape[1]
        var data = [Float](repeating: 0, count: tensor.count)
        for r in 0..<rows { for c in 0..<columns { data[c * rows + r] = tensor.data[r * columns + c] } }
        return FloatTensor(shape: [columns, rows], data: data)
    }

    // MARK: Nodes

    func output(_ node: Int) -> String { nodes[node].output.first ?? "" }

    func attribute(_ node: Int, _ name: String) -> Onnx_AttributeProto? {
        nodes[node].attribute.first { $0.name == name }
    }

    /// Refuses attributes other than `names` (an unknown one could change what the op computes).
    func allowOnly(_ node: Int, _ names: Set<String>) throws(ONNXImportError) {
        if let other = nodes[node].attribute.first(where: { !names.contains($0.name) }) {
            throw fail(node, "\(nodes[node].opType) without the attribute '\(other.name)'")
        }
    }

    /// The node's only data input must be `value`; one output.
    func dataInput(_ node: Int, _ value: String) throws(ONNXImportError) {
        guard let first = nodes[node].input.first, index.resolve(first) == value else {
            throw fail(node, "\(nodes[node].opType) reading '\(value)' as its first input")
        }
    }

    /// An element-wise op (Relu) with one input, one output and no attributes.
    mutating func plain(_ node: Int, input: String) throws(ONNXImportError) {
        guard nodes[node].input.count == 1, index.resolve(nodes[node].input[0]) == input, nodes[node].output.count == 1,
              nodes[node].attribute.isEmpty else {
            throw fail(node, "\(nodes[node].opType) with one input and one output")
        }
        matched.insert(node)
    }

    /// The only consumer of `value`, which must be an `op` node (`after` names the producer when nothing consumes it).
    func onlyConsumer(of value: String, after producer: Int?, op: String, role: String) throws(ONNXImportError) -> Int {
        let users = index.consumers[index.resolve(value)] ?? []
        guard let first = users.first else {
            if let producer { throw fail(producer, "its output to feed \(role); nothing consumes it") }
            throw .malformedGraph(file: fileName, reason: "input '\(value)' feeds no node; expected \(role)")
        }
        guard nodes[first].opType == op, nodes[first].domain.isEmpty || nodes[first].domain == "ai.onnx" else {
            throw fail(first, role)
        }
        guard users.count == 1 else { throw fail(users[1], "nothing besides \(role) reading '\(value)'") }
        return first
    }

    /// A Conv node reading `input` with a constant weight `[out, in, kernel, kernel]`, optional constant
    /// bias, same-size padding (`kernel / 2`), no dilation or groups.
    mutating func conv(_ node: Int, input: String, kernel: Int, role: String) throws(ONNXImportError) -> Conv {
        let n = nodes[node]
        try allowOnly(node, ["kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"])
        guard n.input.count == 2 || n.input.count == 3, index.resolve(n.input[0]) == input, n.output.count == 1,
              let weightTensor = index.constant(n.input[1]) else {
            throw fail(node, "\(role): Conv of '\(input)' with a constant weight")
        }
        let weight = try reader.floatTensor(weightTensor)
        guard weight.shape.count == 4, weight.shape[2] == kernel, weight.shape[3] == kernel else {
            throw fail(node, "\(role) with a \(kernel)x\(kernel) weight (found \(weight.shape))")
        }
        var bias: [Float]?
        if n.input.count == 3 && !n.input[2].isEmpty {
            guard let biasTensor = index.constant(n.input[2]) else { throw fail(node, "\(role) with a constant bias") }
            let values = try reader.floatTensor(biasTensor)
            guard values.shape == [weight.shape[0]] else { throw fail(node, "\(role) with a bias of shape [\(weight.shape[0])] (found \(values.shape))") }
            bias = values.data
        }
        let strides = attribute(node, "strides")?.ints ?? [1, 1]
        let pad = Int64(kernel / 2)
        let pads = attribute(node, "pads")?.ints ?? [0, 0, 0, 0]
        let dilations = attribute(node, "dilations")?.ints ?? [1, 1]
        let group = attribute(node, "group")?.i ?? 1
        let autoPad = attribute(node, "auto_pad").map { String(decoding: $0.s, as: UTF8.self) } ?? "NOTSET"
        let shape = attribute(node, "kernel_shape")?.ints ?? [Int64(kernel), Int64(kernel)]
        guard strides.count == 2, strides[0] == strides[1], strides[0] == 1 || strides[0] == 2,
              pads == [pad, pad, pad, pad], dilations == [1, 1], group == 1, autoPad == "NOTSET" || (autoPad == "VALID" && pad == 0),
              shape == [Int64(kernel), Int64(kernel)] else {
            throw fail(node, "\(role): stride 1 or 2, pads [\(pad), \(pad), \(pad), \(pad)], no dilation, group 1 (found strides \(strides), pads \(pads), dilations \(dilations), group \(group), auto_pad \(autoPad))")
        }
        matched.insert(node)
        var result = output(node)
        // paddle2onnx writes a conv's bias as Add(Conv(x, W), Reshape(b, [1, C, 1, 1])).
        if bias == nil, let add = (index.consumers[result] ?? []).first, index.consumers[result]!.count == 1,
           nodes[add].opType == "Add", nodes[add].input.count == 2, nodes[add].output.count == 1, nodes[add].attribute.isEmpty {
            let other = nodes[add].input.map { index.resolve($0) }.first { $0 != result }
            if let other, let values = try perChannelConstant(other, channels: weight.shape[0]) {
                bias = values
                matched.insert(add)
                result = output(add)
            }
        }
        return Conv(node: node, weight: weight, bias: bias, stride: Int(strides[0]), output: result)
    }

    /// `value` as a per-channel constant broadcast over [N, C, H, W] (shape [C, 1, 1] or [1, C, 1, 1]),
    /// directly or as a Reshape of constants (whose node is then matched); nil when it is neither.
    mutating func perChannelConstant(_ value: String, channels: Int) throws(ONNXImportError) -> [Float]? {
        func broadcastsPerChannel(_ shape: [Int]) -> Bool { shape == [channels, 1, 1] || shape == [1, channels, 1, 1] }
        if let tensor = index.constant(value) {
            guard tensor.dataType == ONNXTensorReader.float else { return nil }
            let values = try reader.floatTensor(tensor)
            return broadcastsPerChannel(values.shape) ? values.data : nil
        }
        guard let producer = index.producer[value], nodes[producer].opType == "Reshape", nodes[producer].input.count == 2,
              let data = index.constant(nodes[producer].input[0]), let shape = index.constant(nodes[producer].input[1]),
              data.dataType == ONNXTensorReader.float else { return nil }
        let values = try reader.floatTensor(data)
        // One -1 stands for the channels (paddle2onnx writes [1, -1, 1, 1]); 0 would copy a dim of the
        // data, which is 1-D here, so it is refused.
        var target = try reader.integers(shape).map { Int($0) }
        if target.filter({ $0 == -1 }).count == 1, let at = target.firstIndex(of: -1) { target[at] = channels }
        guard values.count == channels, broadcastsPerChannel(target) else { return nil }
        matched.insert(producer)
        return values.data
    }

    /// An inference BatchNormalization of `input` with constant per-channel parameters. An epsilon
    /// other than PyTorch's 1e-5 is moved into the variance (`var + eps = var' + 1e-5`), so the
    /// state dict means the same thing under WrenNetwork's fixed epsilon.
    mutating func batchNorm(_ node: Int, input: String) throws(ONNXImportError) -> BN {
        let n = nodes[node]
        try allowOnly(node, ["epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs"])
        guard n.input.count == 5, index.resolve(n.input[0]) == input, n.output.count >= 1,
              n.output.dropFirst().allSatisfy({ $0.isEmpty || (index.consumers[$0] ?? []).isEmpty }),
              (attribute(node, "training_mode")?.i ?? 0) == 0 else {
            throw fail(node, "an inference-mode BatchNormalization of '\(input)' with scale, bias, mean and variance")
        }
        var parameters: [[Float]] = []
        for (position, name) in n.input.dropFirst().enumerated() {
            guard let tensor = index.constant(name) else { throw fail(node, "BatchNormalization with constant parameters (input \(position + 1) is not)") }
            let values = try reader.floatTensor(tensor)
            guard values.shape.count == 1, values.count == parameters.first?.count ?? values.count else {
                throw fail(node, "BatchNormalization parameters of one shape [channels] (found \(values.shape) for input \(position + 1))")
            }
            parameters.append(values.data)
        }
        let epsilon = attribute(node, "epsilon")?.f ?? 1e-5
        var variance = parameters[3]
        if epsilon != Self.epsilon {
            guard epsilon.isFinite, epsilon >= 0 else { throw fail(node, "BatchNormalization with a finite epsilon (found \(epsilon))") }
            variance = variance.map { Float(Double($0) + Double(epsilon) - Double(Self.epsilon)) }
        }
        matched.insert(node)
        return BN(node: node, gamma: parameters[0], beta: parameters[1], mean: parameters[2], variance: variance)
    }

    /// PyTorch's and Paddle's BatchNorm epsilon, the one WrenNetwork's BatchNorm assumes.
    static let epsilon: Float = 1e-5

    /// The graph input's height and width, and its batch size, where they are fixed numbers; checks
    /// the element type and rank.
    func inputSize(_ input: Onnx_ValueInfoProto) throws(ONNXImportError) -> (spatial: (Int, Int)?, batch: Int64?) {
        guard input.hasType, case .tensorType(let tensor)? = input.type.value else { return (nil, nil) }
        if tensor.elemType != 0 && tensor.elemType != ONNXTensorReader.float {
            throw .malformedGraph(file: fileName, reason: "input '\(input.name)' has element type \(ONNXTensorReader.typeName(tensor.elemType)); a WRN takes FLOAT images")
        }
        guard tensor.hasShape else { return (nil, nil) }
        let dims = tensor.shape.dim.map { dim -> Int64? in
            if case .dimValue(let value)? = dim.value { return value }
            return nil
        }
        guard dims.count == 4 else {
            throw .malformedGraph(file: fileName, reason: "input '\(input.name)' has rank \(dims.count); a WRN takes [N, 3, H, W]")
        }
        if let channels = dims[1], channels != 3 {
            throw .malformedGraph(file: fileName, reason: "input '\(input.name)' has \(channels) channels; a WRN takes 3")
        }
        let batch = dims[0].flatMap { $0 >= 1 ? $0 : nil }
        guard let height = dims[2], let width = dims[3], height >= 1, width >= 1, height <= 1 << 16, width <= 1 << 16 else { return (nil, batch) }
        return ((Int(height), Int(width)), batch)
    }

    // MARK: The state dict

    private func assemble(stem: Conv, blocks: [Block], finalBN: BN, fcWeight: FloatTensor, fcBias: FloatTensor, classifierNode: Int) throws(ONNXImportError) -> [String: FloatTensor] {
        let firstConv = blocks.first?.conv1 ?? stem
        guard blocks.count >= 3, blocks.count % 3 == 0 else {
            throw fail(finalBN.node, "the final bn1 after 3 groups of N blocks each; found \(blocks.count) blocks before it")
        }
        let width = firstConv.weight.shape[0]
        guard width >= 16, width % 16 == 0 else {
            throw fail(firstConv.node, "block1's first conv1 with 16 × widen factor output channels (found \(width))")
        }
        let convBias = blocks.contains { $0.bn2 == nil || $0.conv1.bias != nil || $0.conv2.bias != nil || $0.shortcut?.bias != nil } || stem.bias != nil
        let architecture = WRNArchitecture(depth: 6 * (blocks.count / 3) + 4, widenFactor: width / 16,
                                           numClasses: fcWeight.shape[0], convBias: convBias)
        var dict: [String: FloatTensor] = [:]
        func put(_ name: String, _ conv: Conv) {
            dict[name + ".weight"] = conv.weight
            if convBias {
                dict[name + ".bias"] = FloatTensor(shape: [conv.weight.shape[0]], data: conv.bias ?? [Float](repeating: 0, count: conv.weight.shape[0]))
            }
        }
        func put(_ name: String, _ bn: BN) {
            let c = bn.gamma.count
            dict[name + ".weight"] = FloatTensor(shape: [c], data: bn.gamma)
            dict[name + ".bias"] = FloatTensor(shape: [c], data: bn.beta)
            dict[name + ".running_mean"] = FloatTensor(shape: [c], data: bn.mean)
            dict[name + ".running_var"] = FloatTensor(shape: [c], data: bn.variance)
        }
        put("conv1", stem)
        for (block, layout) in zip(blocks, architecture.blocks) {
            let name = layout.name
            guard block.conv1.weight.shape == [layout.outChannels, layout.inChannels, 3, 3], block.conv1.stride == layout.stride else {
                throw fail(block.conv1.node, "\(name)'s conv1 of \(architecture): \(layout.inChannels) → \(layout.outChannels) channels, stride \(layout.stride) (found weight \(block.conv1.weight.shape), stride \(block.conv1.stride))")
            }
            guard (block.shortcut != nil) == layout.hasShortcut else {
                throw fail(block.shortcut?.node ?? block.conv1.node, layout.hasShortcut
                    ? "\(name) of \(architecture) to have a convShortcut (its input and output widths differ)"
                    : "\(name) of \(architecture) to add its raw input (no convShortcut: \(layout.inChannels) → \(layout.outChannels))")
            }
            if let shortcut = block.shortcut {
                guard shortcut.weight.shape == [layout.outChannels, layout.inChannels, 1, 1], shortcut.stride == layout.stride else {
                    throw fail(shortcut.node, "\(name)'s convShortcut of \(architecture): [\(layout.outChannels), \(layout.inChannels), 1, 1], stride \(layout.stride)")
                }
                put(name + ".convShortcut", shortcut)
            }
            guard block.bn1.gamma.count == layout.inChannels else {
                throw fail(block.bn1.node, "\(name)'s bn1 over \(layout.inChannels) channels (found \(block.bn1.gamma.count))")
            }
            put(name + ".bn1", block.bn1)
            put(name + ".conv1", block.conv1)
            // A bn2 folded into conv1 by the exporter.
            let out = layout.outChannels
            let bn2 = block.bn2 ?? Self.identityBatchNorm(node: block.conv1.node, channels: out)
            guard bn2.gamma.count == out else { throw fail(bn2.node, "\(name)'s bn2 over \(out) channels (found \(bn2.gamma.count))") }
            put(name + ".bn2", bn2)
            guard block.conv2.weight.shape == [out, out, 3, 3] else {
                throw fail(block.conv2.node, "\(name)'s conv2 of \(architecture): [\(out), \(out), 3, 3] (found \(block.conv2.weight.shape))")
            }
            put(name + ".conv2", block.conv2)
        }
        put("bn1", finalBN)
        dict["fc.weight"] = fcWeight
        dict["fc.bias"] = fcBias
        // The description's own checks (shapes, negative variances, non-finite values).
        do {
            _ = try WideResNet(stateDict: dict)
        } catch {
            throw fail(classifierNode, "a network WrenNetwork accepts: \(error)")
        }
        return dict
    }

    /// The batch norm an exporter folded into the convolution before it: identity, up to the fixed
    /// epsilon (variance 1 - 1e-5 in float32 gives a scale within 1e-7 of 1).
    static func identityBatchNorm(node: Int, channels: Int) -> BN {
        BN(node: node, gamma: .init(repeating: 1, count: channels), beta: .init(repeating: 0, count: channels),
           mean: .init(repeating: 0, count: channels), variance: .init(repeating: 1 - epsilon, count: channels))
    }
}
