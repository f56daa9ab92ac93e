import WrenNetwork

/// PaddlePaddle's parameter names and layouts → the canonical PyTorch ones `WideResNet(stateDict:)`
/// reads. The Paddle port of WRN keeps PyTorch's module names; what differs is
///
///     block1.layer.0.bn1._mean       → block1.layer.0.bn1.running_mean
///     block1.layer.0.bn1._variance   → block1.layer.0.bn1.running_var
///     fc.weight [in, out]            → fc.weight [out, in]   (every nn.Linear weight, i.e. every 2-D weight)
///     _layers.<name>                 → <name>                (paddle.DataParallel's prefix)
///
/// Conv biases (Paddle's default) keep their names; the reference accepts them.
enum PaddleNaming {
    static let dataParallelPrefix = "_layers."

    /// True when the keys carry Paddle's batch-norm statistic names (used for safetensors, whose
    /// files may come from either framework).
    static func looksLikePaddle<Keys: Sequence<String>>(_ keys: Keys) -> Bool {
        keys.contains { $0.hasSuffix("._mean") || $0.hasSuffix("._variance") }
    }

    /// The canonical name for a Paddle parameter name.
    static func canonicalName(_ key: String) -> String {
        var name = key.hasPrefix(dataParallelPrefix) ? String(key.dropFirst(dataParallelPrefix.count)) : key
        if name.hasSuffix("._mean") {
            name = String(name.dropLast("_mean".count)) + "running_mean"
        } else if name.hasSuffix("._variance") {
            name = String(name.dropLast("_variance".count)) + "running_var"
        }
        return name
    }

    /// Renames every tensor and transposes 2-D weights from Paddle's [in, out] to [out, in].
    /// Two Paddle names that map to one canonical name are an error naming it.
    static func canonicalize(_ tensors: [(key: String, tensor: FloatTensor)]) throws(ImportError) -> [String: FloatTensor] {
        var result: [String: FloatTensor] = [:]
        for (key, tensor) in tensors {
            let name = canonicalName(key)
            guard result[name] == nil else { throw .duplicateKey(key: name) }
            result[name] = name.hasSuffix(".weight") && tensor.shape.count == 2 ? transposed(tensor) : tensor
        }
        return result
    }

    static func transposed(_ tensor: FloatTensor) -> FloatTensor {
        let (rows, columns) = (tensor.shape[0], tensor.shape[1])
        var values = [Float](repeating: 0, count: tensor.count)
        for row in 0..<rows {
            for column in 0..<columns {
                values[column * rows + row] = tensor.data[row * columns + column]
            }
        }
        return FloatTensor(shape: [columns, rows], data: values)
    }
}
