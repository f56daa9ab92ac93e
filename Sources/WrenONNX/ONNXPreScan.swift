/// Counts the messages and strings an `onnx.ModelProto` would make swift-protobuf allocate, before it
/// decodes anything: a 2-byte empty node costs a heap-allocated NodeProto of a few hundred bytes, so
/// a 2 GB file of them would cost far more than 2 GB. `ONNXImporter` refuses a model whose count is
/// over `ONNXLimits.maxValues` (ImportLimits.maxParsedValues) without decoding it.
///
/// The walk knows where ONNX nests messages (model → graph → node → attribute → graph ..., and
/// functions, training info, initializers, value infos) and counts every length-delimited field
/// there, one step per field, never allocating. Malformed bytes end the walk early: the decoder then
/// reports them. Nesting stops at `depthLimit` (the decoder reports that too).
enum ONNXPreScan {
    enum Kind { case model, graph, node, attribute, function, trainingInfo }

    /// Length-delimited fields of each message kind that hold messages worth descending into.
    static func child(_ kind: Kind, _ field: UInt64) -> Kind? {
        switch (kind, field) {
        case (.model, 7): return .graph
        case (.model, 20): return .trainingInfo
        case (.model, 25): return .function
        case (.graph, 1): return .node
        case (.node, 5): return .attribute
        case (.attribute, 6), (.attribute, 11): return .graph  // g, graphs
        case (.function, 7): return .node
        case (.trainingInfo, 1), (.trainingInfo, 2): return .graph
        default: return nil
        }
    }

    /// Length-delimited fields in `bytes[range]` (a `kind` message), recursively; stops counting at `cap`.
    static func count(_ bytes: [UInt8], depthLimit: Int, cap: Int) -> Int {
        var total = 0
        func walk(_ start: Int, _ end: Int, _ kind: Kind, _ depth: Int) {
            guard depth <= depthLimit else { return }
            var position = start
            func varint() -> UInt64? {
                var value: UInt64 = 0
                var shift: UInt64 = 0
                while position < end && shift < 64 {
                    let byte = bytes[position]
                    position += 1
                    value |= UInt64(byte & 0x7F) << shift
                    if byte & 0x80 == 0 { return value }
                    shift += 7
                }
                return nil
            }
            while position < end && total <= cap {
                guard let key = varint() else { return }
                switch key & 7 {
                case 0: guard varint() != nil else { return }
                case 1: position += 8
                case 5: position += 4
                case 2:
                    guard let length = varint(), length <= UInt64(end - position) else { return }
                    let fieldStart = position
                    position += Int(length)
                    total += 1
                    if let inner = child(kind, key >> 3) { walk(fieldStart, position, inner, depth + 1) }
                default: return  // groups (3, 4) and invalid wire types: the decoder refuses them
                }
            }
        }
        walk(0, bytes.count, .model, 1)
        return total
    }
}
