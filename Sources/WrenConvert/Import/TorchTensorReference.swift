/// What a pickled torch tensor says about itself: which storage, and the view into it.
/// Read from `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])`,
/// possibly wrapped in `_rebuild_parameter(tensor, requires_grad, hooks)`.
struct TorchTensorReference: Equatable {
    /// `BINPERSID ('storage', StorageType, key, location, numel)`.
    struct Storage: Equatable {
        var type: TorchStorageType
        var key: String
        var elementCount: Int
    }

    var storage: Storage
    var storageOffset: Int
    var shape: [Int]
    var strides: [Int]

    /// True when `value` is a tensor rebuild call at all (well formed or not).
    static func isTensor(_ value: PickleValue) -> Bool {
        guard case .reduce(.global(let module, let name), _) = value.withoutBuild else { return false }
        return module == "torch._utils" && (name == "_rebuild_tensor_v2" || name == "_rebuild_parameter")
    }

    /// Parses a tensor rebuild call; `key` names the tensor in errors.
    static func parse(_ value: PickleValue, key: String) throws(ImportError) -> TorchTensorReference {
        guard case .reduce(.global(_, let function), .tuple(let arguments)) = value.withoutBuild else {
            throw .malformedTensor(key: key, reason: "not a tensor rebuild call (\(value.summary))")
        }
        if function == "_rebuild_parameter" {
            guard let data = arguments.first, case .reduce(.global("torch._utils", "_rebuild_tensor_v2"), _) = data.withoutBuild else {
                throw .malformedTensor(key: key, reason: "_rebuild_parameter does not wrap a _rebuild_tensor_v2 tensor")
            }
            return try parse(data, key: key)
        }
        guard arguments.count >= 4 else {
            throw .malformedTensor(key: key, reason: "_rebuild_tensor_v2 has \(arguments.count) arguments, expected at least 4")
        }
        let storage = try storage(arguments[0], key: key)
        guard case .int(let offset) = arguments[1], let storageOffset = Int(exactly: offset), storageOffset >= 0 else {
            throw .malformedTensor(key: key, reason: "storage offset \(arguments[1].summary) is not a non-negative integer")
        }
        let shape = try integers(arguments[2], what: "size", key: key)
        let strides = try integers(arguments[3], what: "stride", key: key)
        guard shape.count == strides.count else {
            throw .malformedTensor(key: key, reason: "size has \(shape.count) dimensions but stride has \(strides.count)")
        }
        return TorchTensorReference(storage: storage, storageOffset: storageOffset, shape: shape, strides: strides)
    }

    private static func storage(_ value: PickleValue, key: String) throws(ImportError) -> Storage {
        guard case .persistentID(.tuple(let fields)) = value, fields.count == 5, fields[0] == .string("storage") else {
            throw .malformedTensor(key: key, reason: "storage is not a ('storage', type, key, location, numel) persistent id")
        }
        guard case .global(let module, let typeName) = fields[1] else {
            throw .malformedTensor(key: key, reason: "storage type \(fields[1].summary) is not a class")
        }
        guard module == "torch", let type = TorchStorageType(rawValue: typeName) else {
            throw .unsupportedStorageType(key: key, type: "\(module).\(typeName)")
        }
        guard case .string(let storageKey) = fields[2] else {
            throw .malformedTensor(key: key, reason: "storage key \(fields[2].summary) is not a string")
        }
        guard case .int(let numel) = fields[4], let count = Int(exactly: numel), count >= 0 else {
            throw .malformedTensor(key: key, reason: "storage element count \(fields[4].summary) is not a non-negative integer")
        }
        return Storage(type: type, key: storageKey, elementCount: count)
    }

    private static func integers(_ value: PickleValue, what: String, key: String) throws(ImportError) -> [Int] {
        guard case .tuple(let items) = value else {
            throw .malformedTensor(key: key, reason: "\(what) \(value.summary) is not a tuple")
        }
        var result: [Int] = []
        for item in items {
            guard case .int(let number) = item, let integer = Int(exactly: number), integer >= 0 else {
                throw .malformedTensor(key: key, reason: "\(what) \(item.summary) is not a non-negative integer")
            }
            result.append(integer)
        }
        return result
    }

    /// The number of elements, or nil when the product overflows.
    var elementCount: Int? {
        var count = 1
        for extent in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// The largest storage index the view touches (nil for an empty tensor), or an error when the
    /// arithmetic overflows or the view leaves the storage.
    func lastStorageIndex(key: String) throws(ImportError) -> Int? {
        if shape.contains(0) { return nil }
        var last = storageOffset
        for (extent, stride) in zip(shape, strides) {
            let (step, overflowStep) = (extent - 1).multipliedReportingOverflow(by: stride)
            let (sum, overflowSum) = last.addingReportingOverflow(step)
            guard !overflowStep, !overflowSum else {
                throw .malformedTensor(key: key, reason: "size \(shape) with stride \(strides) overflows")
            }
            last = sum
        }
        guard last < storage.elementCount else {
            throw .tensorOutOfBounds(key: key, storage: storage.key, lastIndex: last, storageCount: storage.elementCount)
        }
        return last
    }
}
