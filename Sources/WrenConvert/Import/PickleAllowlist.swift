/// The only globals a checkpoint's pickle may name, the same idea as `torch.load(weights_only=True)`.
///
/// The list is what `torch.save` writes for a state dict and for a training checkpoint
/// `{"epoch", "state_dict", "optimizer": SGD(...).state_dict(), ...}` (checked with `pickletools`
/// on torch 2.15): the OrderedDict container, the tensor/parameter rebuild functions, the typed
/// storage classes, and `torch.device`. None of them is ever called; the allowlist only decides
/// which names may appear in the inert `PickleValue` tree at all.
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
        default:
            return false
        }
    }
}
