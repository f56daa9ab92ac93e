import WrenNetwork

/// Reads a PaddlePaddle `.pdparams` (`paddle.save(model.state_dict(), path)`): a bare pickle
/// (protocol 2 to 4) of a dict of parameter name → NumPy array, plus the bookkeeping entry
/// `StructuredToParameterName@@` (structured name → Paddle's internal name). Training checkpoints
/// such as `{"model": state_dict, "epoch": 3}` hold the same arrays, each wrapped as
/// `tuple((internal_name, ndarray))`. The pickle goes through the restricted unpickler, so no
/// global is ever imported or called; arrays are rebuilt from the inert value tree by
/// `NumpyPickledArray`, then renamed and re-laid-out to PyTorch's convention by `PaddleNaming`.
enum PaddleCheckpoint {
    /// Written by `paddle.save` next to the parameters; holds strings, not arrays.
    static let nameTableKey = "StructuredToParameterName@@"
    /// Written by `paddle.save(protocol < 4)` when it splits arrays over 4 GB into slices.
    static let slicedParameterKey = "UnpackBigParamInfor@@"

    /// The floating-point parameters, keyed by canonical PyTorch names. Integer arrays are left out.
    static func floatTensors(pickle bytes: [UInt8], fileName: String, limits: ImportLimits = .default) throws(ImportError) -> [String: FloatTensor] {
        let root: PickleValue
        do throws(ImportError) {
            root = try Unpickler.parse(bytes, maxValues: limits.maxParsedValues)
        } catch {
            throw .inFile(file: fileName, entry: nil, underlying: error)
        }
        let stateDict = try findStateDict(root, fileName: fileName)
        var collected: [(key: String, tensor: FloatTensor)] = []
        do throws(ImportError) {
            var seen: Set<String> = []
            for entry in stateDict {
                guard case .string(let key) = entry.key else { throw ImportError.nonStringKey(found: entry.key.summary) }
                if key == nameTableKey { continue }
                if key == slicedParameterKey {
                    throw ImportError.malformedTensor(
                        key: key, reason: "parameters split into slices by paddle.save(protocol=2/3) are not supported; save with protocol=4")
                }
                guard seen.insert(key).inserted else { throw ImportError.duplicateKey(key: key) }
                if NumpyPickledArray.isScalar(entry.value) { continue }
                let array = try NumpyPickledArray.parse(entry.value, key: key)
                guard array.isFloatingPoint else {
                    guard array.elementSize != nil else {
                        throw ImportError.unsupportedStorageType(key: key, type: "numpy dtype '\(array.dtypeCode)'")
                    }
                    continue  // integer bookkeeping, as torch's num_batches_tracked
                }
                collected.append((key, try array.floatTensor(key: key)))
            }
            return try PaddleNaming.canonicalize(collected)
        } catch {
            throw .inFile(file: fileName, entry: nil, underlying: error)
        }
    }

    /// The parameter dict: every value an array or a scalar, at least one an array (the name table
    /// aside), at the top level or under `state_dict` / `model` (once more nested at most).
    static func findStateDict(_ root: PickleValue, fileName: String) throws(ImportError) -> [PickleDictEntry] {
        func isParameterDict(_ entries: [PickleDictEntry]) -> Bool {
            let parameters = entries.filter { $0.key != .string(nameTableKey) && $0.key != .string(slicedParameterKey) }
            return parameters.contains { NumpyPickledArray.isArray($0.value) }
                && parameters.allSatisfy { NumpyPickledArray.isArray($0.value) || NumpyPickledArray.isScalar($0.value) }
        }
        return try StateDictSearch.find(in: root, fileName: fileName, isStateDict: isParameterDict)
    }
}
