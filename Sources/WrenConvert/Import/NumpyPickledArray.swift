import WrenNetwork

/// A NumPy array as `ndarray.__reduce__` pickles it, read from the inert `PickleValue` tree
/// (nothing is called):
///
///     _reconstruct(ndarray, (0,), b'b')  BUILD  (1, shape, dtype, is_fortran, raw_bytes)
///     dtype = numpy.dtype('f4', False, True)  BUILD  (3, '<', None, None, None, -1, -1, 0)
///
/// At protocol 2 every `bytes` object is pickled as `_codecs.encode(text, 'latin1')`, one code point
/// per byte. Paddle wraps a tensor inside a nested container as `tuple((name, ndarray))`.
struct NumpyPickledArray: Equatable {
    /// NumPy's dtype code without the byte order: `f4`, `f2`, `f8`, `i8`, `b1`, ...
    var dtypeCode: String
    var bigEndian: Bool
    var shape: [Int]
    var fortranOrder: Bool
    var data: [UInt8]

    /// NumPy's array module, as NumPy 2 (`numpy._core`) and 1.x (`numpy.core`) spell it.
    static func isMultiarray(_ module: String) -> Bool {
        module == "numpy._core.multiarray" || module == "numpy.core.multiarray"
    }

    /// True when `value` is a pickled ndarray (or Paddle's tuple wrapper of one), well formed or not.
    static func isArray(_ value: PickleValue) -> Bool {
        switch value.withoutBuild {
        case .reduce(.global(let module, "_reconstruct"), _):
            return isMultiarray(module)
        case .reduce(.global("builtins", "tuple"), .tuple(let arguments)):
            guard arguments.count == 1, case .tuple(let pair) = arguments[0], pair.count == 2 else { return false }
            return isArray(pair[1])
        default:
            return false
        }
    }

    /// True for a pickled NumPy scalar (`numpy.float64(0.5)` is `multiarray.scalar(dtype, bytes)`)
    /// or a plain Python number: bookkeeping that may sit beside the arrays of a parameter dict.
    static func isScalar(_ value: PickleValue) -> Bool {
        switch value.withoutBuild {
        case .int, .float, .bool:
            return true
        case .reduce(.global(let module, "scalar"), _):
            return isMultiarray(module)
        default:
            return false
        }
    }

    /// Reads the array description; `key` names it in errors.
    static func parse(_ value: PickleValue, key: String) throws(ImportError) -> NumpyPickledArray {
        if case .reduce(.global("builtins", "tuple"), .tuple(let arguments)) = value.withoutBuild,
           arguments.count == 1, case .tuple(let pair) = arguments[0], pair.count == 2 {
            return try parse(pair[1], key: key)
        }
        guard case .build(let object, let state) = value,
              case .reduce(.global(_, "_reconstruct"), .tuple(let reconstructArguments)) = object.withoutBuild,
              reconstructArguments.first == .global(module: "numpy", name: "ndarray") else {
            throw .malformedTensor(key: key, reason: "not a pickled numpy.ndarray (\(value.summary))")
        }
        guard case .tuple(let fields) = state, fields.count == 5 else {
            throw .malformedTensor(key: key, reason: "ndarray state is \(state.summary), expected (version, shape, dtype, is_fortran, data)")
        }
        guard case .tuple(let extents) = fields[1] else {
            throw .malformedTensor(key: key, reason: "ndarray shape \(fields[1].summary) is not a tuple")
        }
        var shape: [Int] = []
        for extent in extents {
            guard case .int(let number) = extent, let integer = Int(exactly: number), integer >= 0 else {
                throw .malformedTensor(key: key, reason: "ndarray shape entry \(extent.summary) is not a non-negative integer")
            }
            shape.append(integer)
        }
        let (code, bigEndian) = try dtype(fields[2], key: key)
        guard case .bool(let fortranOrder) = fields[3] else {
            throw .malformedTensor(key: key, reason: "ndarray is_fortran flag \(fields[3].summary) is not a bool")
        }
        guard let data = bytes(fields[4]) else {
            throw .unsupportedStorageType(key: key, type: "numpy array of Python objects (\(fields[4].summary)); only numeric arrays are read")
        }
        return NumpyPickledArray(dtypeCode: code, bigEndian: bigEndian, shape: shape, fortranOrder: fortranOrder, data: data)
    }

    /// `numpy.dtype(code, False, True)` with its BUILD state; returns the code and whether the
    /// elements are big-endian (`>`; `<`, `|` and `=` read as little-endian, the only native order
    /// Wren runs on).
    private static func dtype(_ value: PickleValue, key: String) throws(ImportError) -> (String, Bool) {
        guard case .build(let object, let state) = value,
              case .reduce(.global("numpy", "dtype"), .tuple(let arguments)) = object.withoutBuild,
              let first = arguments.first, case .string(let code) = first else {
            throw .malformedTensor(key: key, reason: "ndarray dtype \(value.summary) is not numpy.dtype(code, ...)")
        }
        guard case .tuple(let fields) = state, fields.count >= 2, case .string(let order) = fields[1] else {
            throw .malformedTensor(key: key, reason: "dtype '\(code)' has no byte order in its state \(state.summary)")
        }
        return (code, order == ">")
    }

    /// The raw bytes of a pickled `bytes` object, in either of its two spellings.
    private static func bytes(_ value: PickleValue) -> [UInt8]? {
        switch value {
        case .bytes(let bytes):
            return bytes
        case .reduce(.global("_codecs", "encode"), .tuple(let arguments)):
            guard arguments.count == 2, case .string(let text) = arguments[0], case .string(let encoding) = arguments[1],
                  encoding == "latin1" || encoding == "latin-1" else { return nil }
            var result: [UInt8] = []
            result.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard scalar.value <= 0xFF else { return nil }
                result.append(UInt8(scalar.value))
            }
            return result
        default:
            return nil
        }
    }

    /// Bytes per element for the numeric codes this reader knows (nil: not a plain number).
    var elementSize: Int? {
        guard let kind = dtypeCode.first, "fiub".contains(kind), let size = Int(dtypeCode.dropFirst()),
              [1, 2, 4, 8].contains(size) else { return nil }
        return size
    }

    /// Float arrays become tensors; integer and bool arrays are bookkeeping and are left out.
    var isFloatingPoint: Bool { dtypeCode == "f2" || dtypeCode == "f4" || dtypeCode == "f8" }

    /// The values as a dense row-major FloatTensor, after checking the byte count is exactly
    /// `elements × element size`.
    func floatTensor(key: String) throws(ImportError) -> FloatTensor {
        guard isFloatingPoint, let size = elementSize else {
            throw .unsupportedStorageType(key: key, type: "numpy dtype '\(dtypeCode)'")
        }
        var count = 1
        for extent in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: extent)
            guard !overflow else { throw .malformedTensor(key: key, reason: "shape \(shape) has more elements than an Int can count") }
            count = product
        }
        let (expected, overflow) = count.multipliedReportingOverflow(by: size)
        guard !overflow, expected == data.count else {
            throw .malformedTensor(key: key, reason: "shape \(shape) of '\(dtypeCode)' needs \(overflow ? Int.max : expected) bytes, the pickle holds \(data.count)")
        }
        var values = [Float](repeating: 0, count: count)
        guard count > 0 else { return FloatTensor(shape: shape, data: values) }
        // Row-major position → storage index; Fortran order stores the first axis fastest.
        var strides = [Int](repeating: 1, count: shape.count)
        if fortranOrder {
            for axis in shape.indices.dropFirst() { strides[axis] = strides[axis - 1] * shape[axis - 1] }
        } else {
            for axis in shape.indices.reversed().dropFirst() { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        }
        let code = dtypeCode
        let swap = bigEndian
        data.withUnsafeBytes { raw in
            func element(_ index: Int) -> Float {
                switch code {
                case "f2":
                    let bits = raw.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self)
                    return TorchStorageType.floatFromHalf(swap ? bits.byteSwapped : bits)
                case "f4":
                    let bits = raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)
                    return Float(bitPattern: swap ? bits.byteSwapped : bits)
                default:
                    let bits = raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)
                    return Float(Double(bitPattern: swap ? bits.byteSwapped : bits))
                }
            }
            if !fortranOrder || shape.count < 2 {
                for position in 0..<count { values[position] = element(position) }
                return
            }
            var counter = [Int](repeating: 0, count: shape.count)
            var index = 0
            for position in 0..<count {
                values[position] = element(index)
                var axis = shape.count - 1
                while axis >= 0 {
                    counter[axis] += 1
                    index += strides[axis]
                    if counter[axis] < shape[axis] { break }
                    index -= strides[axis] * shape[axis]
                    counter[axis] = 0
                    axis -= 1
                }
            }
        }
        return FloatTensor(shape: shape, data: values)
    }
}
