/// Why a checkpoint could not be imported. Every case names what was wrong and where: the file,
/// the zip entry, the byte offset inside a pickle, the tensor key or the refused global.
public enum ImportError: Error, Equatable, CustomStringConvertible {
    // MARK: The file as a whole

    /// The file could not be read at all.
    case unreadableFile(path: String, reason: String)
    /// The first bytes match no checkpoint format this importer knows.
    case unrecognizedFormat(file: String, firstBytes: String)
    /// A pre-1.6 `torch.save` file (a bare pickle stream starting with torch's magic number).
    case legacyTorchFormat(file: String)
    /// A bare pickle that is not a torch zip checkpoint (for example a `.pdparams` file).
    case unsupportedPickleFile(file: String)
    /// ZIPFoundation could not read the archive or one of its entries.
    case invalidZip(file: String, reason: String)
    /// The zip holds no `<prefix>/data.pkl`.
    case missingDataPickle(file: String, entries: [String])
    /// The zip holds more than one `<prefix>/data.pkl`, so the checkpoint is ambiguous.
    case ambiguousDataPickle(file: String, candidates: [String])
    /// An entry the pickle refers to (a storage) is absent from the zip.
    case missingEntry(file: String, entry: String)
    /// An entry is larger than this importer accepts (a guard against decompression bombs).
    case entryTooLarge(file: String, entry: String, size: UInt64, limit: UInt64)
    /// `<prefix>/byteorder` holds something other than `little` or `big`.
    case unsupportedByteOrder(file: String, value: String)
    /// The file would make the importer hold more than `ImportLimits` allows (`found` says how much,
    /// in the limit's unit: bytes, a ratio, values).
    case limitExceeded(file: String, limit: ImportLimits.Name, value: Int, found: String)

    // MARK: The pickle stream (offsets are byte offsets into the pickle)

    /// The stream ends inside the opcode at `offset` (or before STOP).
    case pickleTruncated(offset: Int)
    /// An opcode this restricted unpickler does not implement.
    case pickleUnknownOpcode(opcode: UInt8, offset: Int)
    /// A protocol newer than 5.
    case pickleUnsupportedProtocol(version: Int, offset: Int)
    /// GLOBAL / STACK_GLOBAL named something outside the allowlist. Nothing was ever imported or called.
    case pickleGlobalNotAllowed(module: String, name: String, offset: Int)
    /// BINGET / LONG_BINGET asked for a memo slot that was never filled.
    case pickleBadMemoIndex(index: Int, offset: Int)
    /// An opcode needed more stack items than there were (above the last MARK).
    case pickleStackUnderflow(opcode: String, offset: Int)
    /// An opcode that collects items since a MARK found no MARK.
    case pickleMissingMark(opcode: String, offset: Int)
    /// Containers nest deeper than `limit` (also the symptom of a self-referencing container).
    case pickleNestingTooDeep(limit: Int, offset: Int)
    /// The pickle holds more than `limit` values at once (`ImportLimits.maxParsedValues`).
    case pickleTooManyValues(limit: Int, offset: Int)
    /// Sharing through the memo would expand the value tree beyond `limit` nodes.
    case pickleExpansionTooLarge(limit: Int)
    /// A LONG1 integer does not fit in 64 bits.
    case pickleIntegerTooLarge(byteCount: Int, offset: Int)
    /// A string opcode carried bytes that are not valid UTF-8.
    case pickleInvalidText(offset: Int)
    /// An opcode found an operand of the wrong kind (APPEND to a non-list, REDUCE with non-tuple arguments, ...).
    case pickleTypeMismatch(opcode: String, expected: String, offset: Int)
    /// STOP left more than one value on the stack, or none.
    case pickleMalformedEnd(stackCount: Int, offset: Int)

    // MARK: Tensors and the state dict

    /// No dictionary of tensors was found at the top level or under `state_dict` / `model`.
    case noStateDict(file: String, topLevelKeys: [String])
    /// A state-dict key is not a string.
    case nonStringKey(found: String)
    /// Two keys collide once the DataParallel `module.` prefix is stripped.
    case duplicateKey(key: String)
    /// A tensor rebuild call whose arguments do not have the expected form.
    case malformedTensor(key: String, reason: String)
    /// A storage type the importer does not convert (or does not know).
    case unsupportedStorageType(key: String, type: String)
    /// A storage entry whose byte size is not `numel × element size`.
    case storageSizeMismatch(key: String, storage: String, expectedBytes: Int, foundBytes: Int)
    /// A floating-point tensor holds an infinity or NaN once read as float32 (a float64 or a value
    /// beyond ±3.4e38 overflows): no int8 scale can represent it.
    case nonFiniteValue(file: String, key: String, index: Int, value: Float)
    /// A tensor view reaches past the end of its storage.
    case tensorOutOfBounds(key: String, storage: String, lastIndex: Int, storageCount: Int)

    // MARK: Context

    /// `underlying` happened while reading `file` (and, when known, its zip entry).
    indirect case inFile(file: String, entry: String?, underlying: ImportError)

    /// The innermost error, without file/entry context.
    public var root: ImportError {
        if case .inFile(_, _, let underlying) = self { return underlying.root }
        return self
    }

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read '\(path)': \(reason)"
        case .unrecognizedFormat(let file, let firstBytes):
            return "'\(file)' is not a checkpoint this importer knows (first bytes: \(firstBytes)); expected a torch.save zip (.pth / .pt), a PaddlePaddle .pdparams pickle, a .safetensors file or an ONNX model (.onnx)"
        case .legacyTorchFormat(let file):
            return "'\(file)': legacy (pre-1.6) torch.save format: re-save with torch.save(..., _use_new_zipfile_serialization=True)"
        case .unsupportedPickleFile(let file):
            return "'\(file)' is a bare pickle, not a torch.save zip checkpoint; re-save it with torch.save(model.state_dict(), path)"
        case .invalidZip(let file, let reason):
            return "'\(file)' is not a readable zip archive: \(reason)"
        case .missingDataPickle(let file, let entries):
            return "'\(file)' has no '<prefix>/data.pkl' entry, so it is not a torch.save checkpoint (entries: \(Self.abbreviated(entries)))"
        case .ambiguousDataPickle(let file, let candidates):
            return "'\(file)' has several data.pkl entries (\(candidates.joined(separator: ", "))); expected exactly one"
        case .missingEntry(let file, let entry):
            return "'\(file)' lacks the entry '\(entry)' that its data.pkl refers to"
        case .entryTooLarge(let file, let entry, let size, let limit):
            return "'\(file)': entry '\(entry)' is \(size) bytes, more than the \(limit) accepted"
        case .unsupportedByteOrder(let file, let value):
            return "'\(file)': byteorder entry says '\(value)', expected 'little' or 'big'"
        case .limitExceeded(let file, let limit, let value, let found):
            return "'\(file)': \(found), more than a checkpoint may hold: \(ImportLimits.advice(limit, value))"
        case .pickleTruncated(let offset):
            return "pickle is truncated (opcode at offset \(offset) runs past the end, or no STOP)"
        case .pickleUnknownOpcode(let opcode, let offset):
            return "pickle opcode 0x\(String(opcode, radix: 16)) is not supported (offset \(offset))"
        case .pickleUnsupportedProtocol(let version, let offset):
            return "pickle protocol \(version) is not supported (offset \(offset)); protocols 2 to 5 are"
        case .pickleGlobalNotAllowed(let module, let name, let offset):
            var text = "global '\(module).\(name)' is not allowed (offset \(offset))"
            if module.hasPrefix("torch.nn") || module == "__main__" {
                text += "; the file pickles a whole model object: save model.state_dict() instead"
            }
            return text
        case .pickleBadMemoIndex(let index, let offset):
            return "pickle refers to memo slot \(index), which was never stored (offset \(offset))"
        case .pickleStackUnderflow(let opcode, let offset):
            return "pickle stack underflow at \(opcode) (offset \(offset))"
        case .pickleMissingMark(let opcode, let offset):
            return "pickle \(opcode) found no MARK (offset \(offset))"
        case .pickleNestingTooDeep(let limit, let offset):
            return "pickle nests containers deeper than \(limit) levels, or a container contains itself (offset \(offset))"
        case .pickleTooManyValues(let limit, let offset):
            return "pickle holds more than \(limit) values at once (offset \(offset)): \(ImportLimits.advice(.maxParsedValues, limit))"
        case .pickleExpansionTooLarge(let limit):
            return "pickle memo sharing would expand to more than \(limit) values"
        case .pickleIntegerTooLarge(let byteCount, let offset):
            return "pickle integer of \(byteCount) bytes does not fit in 64 bits (offset \(offset))"
        case .pickleInvalidText(let offset):
            return "pickle string is not valid UTF-8 (offset \(offset))"
        case .pickleTypeMismatch(let opcode, let expected, let offset):
            return "pickle \(opcode) expected \(expected) (offset \(offset))"
        case .pickleMalformedEnd(let stackCount, let offset):
            return "pickle STOP left \(stackCount) values on the stack, expected 1 (offset \(offset))"
        case .noStateDict(let file, let topLevelKeys):
            return "'\(file)' holds no state dict: expected a dict of tensors, or one under 'state_dict' or 'model' (top-level keys: \(Self.abbreviated(topLevelKeys)))"
        case .nonStringKey(let found):
            return "state dict key \(found) is not a string"
        case .duplicateKey(let key):
            return "state dict key '\(key)' appears twice once the 'module.' prefix is stripped"
        case .malformedTensor(let key, let reason):
            return "tensor '\(key)': \(reason)"
        case .unsupportedStorageType(let key, let type):
            return "tensor '\(key)' uses storage type '\(type)', which is not supported"
        case .storageSizeMismatch(let key, let storage, let expectedBytes, let foundBytes):
            return "tensor '\(key)': storage '\(storage)' has \(foundBytes) bytes, expected \(expectedBytes)"
        case .nonFiniteValue(let file, let key, let index, let value):
            return "'\(file)': tensor '\(key)' holds \(value) at index \(index) as float32; a checkpoint's weights must be finite"
        case .tensorOutOfBounds(let key, let storage, let lastIndex, let storageCount):
            return "tensor '\(key)' reaches element \(lastIndex) of storage '\(storage)', which holds only \(storageCount)"
        case .inFile(let file, let entry, let underlying):
            if let entry { return "'\(file)' (\(entry)): \(underlying)" }
            return "'\(file)': \(underlying)"
        }
    }

    private static func abbreviated(_ names: [String]) -> String {
        let shown = names.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
        return names.count > 8 ? shown + ", … (\(names.count) in all)" : shown
    }
}
