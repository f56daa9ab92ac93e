/// The inert result of unpickling: plain data plus *descriptions* of the calls a real unpickler
/// would have made. Nothing in it was ever imported or executed; a consumer decides what a
/// `reduce(global("torch._utils", "_rebuild_tensor_v2"), ...)` means.
public indirect enum PickleValue: Sendable, Equatable {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list([PickleValue])
    /// Key/value pairs in insertion order (a pickled dict or `collections.OrderedDict`).
    case dict([PickleDictEntry])
    /// A reference to `module.name`, which passed the allowlist.
    case global(module: String, name: String)
    /// `callable(*arguments)`, not called. `arguments` is a tuple.
    case reduce(callable: PickleValue, arguments: PickleValue)
    /// What BINPERSID received; for torch, `('storage', StorageType, key, location, numel)`.
    case persistentID(PickleValue)
    /// `object.__setstate__(state)`, not called.
    case build(object: PickleValue, state: PickleValue)

    /// The object under any BUILD wrappers (torch's state dicts carry `_metadata` that way).
    public var withoutBuild: PickleValue {
        if case .build(let object, _) = self { return object.withoutBuild }
        return self
    }

    /// The value stored under a string key, when this is a dict (BUILD wrappers are looked through).
    public subscript(key: String) -> PickleValue? {
        guard case .dict(let entries) = withoutBuild else { return nil }
        return entries.first { $0.key == .string(key) }?.value
    }

    /// A one-line description for error messages.
    public var summary: String {
        switch self {
        case .none: return "None"
        case .bool(let value): return value ? "True" : "False"
        case .int(let value): return String(value)
        case .float(let value): return String(value)
        case .string(let value): return "'\(value)'"
        case .bytes(let value): return "bytes(\(value.count))"
        case .tuple(let items): return "tuple(\(items.count))"
        case .list(let items): return "list(\(items.count))"
        case .dict(let entries): return "dict(\(entries.count))"
        case .global(let module, let name): return "\(module).\(name)"
        case .reduce(let callable, _): return "\(callable.summary)(...)"
        case .persistentID: return "persistent id"
        case .build(let object, _): return object.summary
        }
    }
}

/// One key/value pair of a `PickleValue.dict`.
public struct PickleDictEntry: Sendable, Equatable {
    public var key: PickleValue
    public var value: PickleValue

    public init(key: PickleValue, value: PickleValue) {
        self.key = key
        self.value = value
    }
}
