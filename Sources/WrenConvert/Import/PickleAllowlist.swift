/// The only globals a checkpoint's pickle may name, the same idea as `torch.load(weights_only=True)`.
///
/// The list is what `torch.save` writes for a state dict and for a training checkpoint
/// `{"epoch", "state_dict", "optimizer": SGD(...).state_dict(), ...}` (checked with `pickletools`
/// on torch 2.15): the OrderedDict container, the tensor/parameter rebuild functions, the typed
/// storage classes, and `torch.device`. None of them is ever called; the allowlist only decides
/// which names may appear in the inert `PickleValue` tree at all.
///
/// A PaddlePaddle `.pdparams` (`paddle.save`, checked with `pickletools` on paddle 3.3.1 / numpy 2.4
/// and numpy 1.x's spelling) pickles NumPy arrays: `numpy._core.multiarray._reconstruct`
/// (`numpy.core.multiarray` before NumPy 2), `numpy.ndarray`, `numpy.dtype`, NumPy scalars
/// (`multiarray.scalar`), `builtins.tuple` (Paddle's `(name, ndarray)` form of a tensor inside a
/// nested dict) and, at protocol 2, `_codecs.encode` (how Python 3 pickles bytes for Python 2).
/// `NumpyPickledArray` reads those descriptions; nothing calls them.
enum PickleAllowlist {
    static let storageTypeNames: Set<String> = [
        "FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage",
        "LongStorage", "IntStorage", "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage",
    ]

    static func allows(module: String, name: String) -> Bool {
        switch module {
        case "collections":
            return name == "OrderedDict"
        case "torch._utils":
            return name == "_rebuild_tensor_v2" || name == "_rebuild_parameter"
        case "torch":
            return storageTypeNames.contains(name) || name == "device"
        case "numpy._core.multiarray", "numpy.core.multiarray":
            return name == "_reconstruct" || name == "scalar"
        case "numpy":
            return name == "ndarray" || name == "dtype"
        case "builtins":
            return name == "tuple"
        case "_codecs":
            return name == "encode"
        default:
            return false
        }
    }
}
