import Foundation
import WrenNetwork
import ZIPFoundation

/// Reads a `torch.save` zip checkpoint (PyTorch ≥ 1.6) without Python.
///
/// Layout: `<prefix>/data.pkl` (the pickled object), `<prefix>/data/<key>` (raw storage bytes, one
/// entry per storage), `<prefix>/byteorder` (`little` or `big`; absent means little), plus version
/// entries this reader ignores. The pickle refers to storages through BINPERSID
/// `('storage', torch.<Type>Storage, '<key>', '<location>', numel)`; tensors are views
/// `_rebuild_tensor_v2(storage, offset, size, stride, ...)` into them.
enum TorchCheckpoint {
    /// data.pkl for a WRN-28-10 is a few tens of KB; anything past this is not a checkpoint we want.
    static let maxPickleSize: UInt64 = 256 << 20
    /// The largest single storage accepted (a WRN-28-10 is 146 MB in all).
    static let maxStorageSize: UInt64 = 4 << 30

    /// The floating-point tensors of the checkpoint's state dict, keyed by canonical PyTorch names
    /// (a DataParallel `module.` prefix removed). Integer tensors are left out. What is inflated
    /// (data.pkl, the storages) and what the unpickler holds are bounded by `limits`.
    static func floatTensors(zipData: Data, fileName: String, limits: ImportLimits = .default) throws(ImportError) -> [String: FloatTensor] {
        try ZipDirectoryCheck.check(zipData, fileName: fileName)
        let archive: Archive
        do {
            archive = try Archive(data: zipData, accessMode: .read)
        } catch {
            throw .invalidZip(file: fileName, reason: "\(error)")
        }
        var reader = try ArchiveReader(archive: archive, fileName: fileName, archiveSize: zipData.count,
                                       maxInflationRatio: limits.maxInflationRatio)
        let paths = reader.paths
        let pickles = paths.filter { path in
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            return parts.count == 2 && parts[1] == "data.pkl" && !parts[0].isEmpty
        }
        guard !pickles.isEmpty else { throw .missingDataPickle(file: fileName, entries: paths) }
        guard pickles.count == 1 else { throw .ambiguousDataPickle(file: fileName, candidates: pickles) }
        let pickleEntry = pickles[0]
        let prefix = String(pickleEntry.dropLast("data.pkl".count))

        let bigEndian = try reader.isBigEndian(entry: prefix + "byteorder")
        let pickleBytes = try reader.bytes(of: pickleEntry, limit: maxPickleSize)
        let root: PickleValue
        do throws(ImportError) {
            root = try Unpickler.parse(pickleBytes, maxValues: limits.maxParsedValues)
        } catch {
            throw .inFile(file: fileName, entry: pickleEntry, underlying: error)
        }
        let stateDict = try findStateDict(root, fileName: fileName)

        var tensors: [String: FloatTensor] = [:]
        do throws(ImportError) {
            // First the references, so that each storage can be let go after its last tensor.
            var references: [(key: String, rawKey: String, reference: TorchTensorReference)] = []
            var usesLeft: [String: Int] = [:]
            var keys: Set<String> = []
            for entry in stateDict {
                guard case .string(let rawKey) = entry.key else { throw ImportError.nonStringKey(found: entry.key.summary) }
                let key = rawKey.hasPrefix("module.") ? String(rawKey.dropFirst("module.".count)) : rawKey
                let reference = try TorchTensorReference.parse(entry.value, key: rawKey)
                guard reference.storage.type.isFloatingPoint else { continue }
                guard keys.insert(key).inserted else { throw ImportError.duplicateKey(key: key) }
                references.append((key, rawKey, reference))
                usesLeft[reference.storage.key, default: 0] += 1
            }
            var storages: [String: [UInt8]] = [:]
            for (key, rawKey, reference) in references {
                let storageKey = reference.storage.key
                if storages[storageKey] == nil {
                    storages[storageKey] = try reader.storageBytes(prefix: prefix, storage: reference.storage, tensorKey: rawKey)
                }
                // Storages are cached by key, so a second tensor's claim about the same storage
                // (type, numel) is checked against the bytes actually read.
                let bytes = storages[storageKey]!
                let (expected, overflow) = reference.storage.elementCount.multipliedReportingOverflow(by: reference.storage.type.elementSize)
                guard !overflow, expected == bytes.count else {
                    throw ImportError.storageSizeMismatch(
                        key: rawKey, storage: storageKey, expectedBytes: overflow ? Int.max : expected, foundBytes: bytes.count)
                }
                tensors[key] = try materialize(reference, storage: bytes, bigEndian: bigEndian, key: rawKey)
                usesLeft[storageKey]! -= 1
                if usesLeft[storageKey] == 0 { storages[storageKey] = nil }
            }
        } catch {
            switch error {
            case .missingEntry, .entryTooLarge, .invalidZip, .limitExceeded:
                throw error  // already names the file and entry
            default:
                throw .inFile(file: fileName, entry: nil, underlying: error)
            }
        }
        return tensors
    }

    /// The state dict: a dict whose values are all tensors, at the top level or under
    /// `state_dict` / `model` (which may in turn hold `state_dict` / `model` once more).
    static func findStateDict(_ root: PickleValue, fileName: String) throws(ImportError) -> [PickleDictEntry] {
        try StateDictSearch.find(in: root, fileName: fileName) { entries in
            !entries.isEmpty && entries.allSatisfy { TorchTensorReference.isTensor($0.value) }
        }
    }

    /// Copies the view out of its storage into a dense row-major FloatTensor.
    static func materialize(
        _ reference: TorchTensorReference, storage: [UInt8], bigEndian: Bool, key: String
    ) throws(ImportError) -> FloatTensor {
        guard try reference.lastStorageIndex(key: key) != nil else {
            return FloatTensor(shape: reference.shape, data: [])
        }
        // In bounds, a view can still repeat elements through zero strides; refuse views larger
        // than their storage so a few bytes cannot ask for gigabytes.
        guard let count = reference.elementCount, count <= reference.storage.elementCount else {
            throw .malformedTensor(
                key: key, reason: "size \(reference.shape) has more elements than its storage (\(reference.storage.elementCount))")
        }
        let type = reference.storage.type
        let shape = reference.shape
        // A stride along an axis of extent 1 is never applied; zeroing it keeps the odometer's
        // arithmetic inside the bounds checked above whatever value the file holds.
        let strides = zip(shape, reference.strides).map { extent, stride in extent == 1 ? 0 : stride }
        var values = [Float](repeating: 0, count: count)
        let rowMajor = Self.isRowMajor(shape: shape, strides: strides)
        storage.withUnsafeBytes { raw in
            if rowMajor {
                for position in 0..<count {
                    values[position] = type.floatValue(in: raw, at: reference.storageOffset + position, bigEndian: bigEndian)
                }
                return
            }
            // Odometer over the multi-index; `index` tracks the storage position incrementally.
            var counter = [Int](repeating: 0, count: shape.count)
            var index = reference.storageOffset
            for position in 0..<count {
                values[position] = type.floatValue(in: raw, at: index, bigEndian: bigEndian)
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

    /// True when `strides` walk the storage densely in row-major order (axes of extent 1 excepted).
    static func isRowMajor(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for axis in shape.indices.reversed() where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }
}

/// Entry access with size limits and errors naming the file and entry.
private struct ArchiveReader {
    let archive: Archive
    let fileName: String
    /// Entries by path, read once (`Archive[path]` scans the central directory on every call).
    let entries: [String: Entry]
    let paths: [String]
    let archiveSize: Int
    let maxInflationRatio: Int
    /// Bytes inflated so far, over every entry read.
    var inflated: UInt64 = 0

    /// Refuses archives a careless extractor would mishandle: absolute paths, `..` components and
    /// duplicate entries (which of two same-named entries is "the" data would be a guess).
    init(archive: Archive, fileName: String, archiveSize: Int, maxInflationRatio: Int) throws(ImportError) {
        self.archive = archive
        self.fileName = fileName
        self.archiveSize = archiveSize
        self.maxInflationRatio = maxInflationRatio
        let all = Array(archive)
        paths = all.map(\.path)
        var entries: [String: Entry] = [:]
        for entry in all {
            let path = entry.path
            let components = path.split(separator: "/", omittingEmptySubsequences: false)
            if path.hasPrefix("/") || path.contains("\\") || components.contains("..") {
                throw .invalidZip(file: fileName, reason: "entry '\(path)' has an absolute or '..' path")
            }
            guard entries.updateValue(entry, forKey: path) == nil else {
                throw .invalidZip(file: fileName, reason: "entry '\(path)' appears more than once")
            }
        }
        self.entries = entries
    }

    /// An entry's bytes, refused before inflating when its declared size passes `limit`, or would
    /// bring the total inflated past `maxInflationRatio` times the archive's size.
    mutating func bytes(of path: String, limit: UInt64) throws(ImportError) -> [UInt8] {
        guard let entry = entries[path] else { throw .missingEntry(file: fileName, entry: path) }
        let declared = entry.uncompressedSize
        guard declared <= limit else { throw .entryTooLarge(file: fileName, entry: path, size: declared, limit: limit) }
        let (budget, overflow) = UInt64(archiveSize).multipliedReportingOverflow(by: UInt64(max(maxInflationRatio, 0)))
        guard overflow || declared <= budget - min(inflated, budget) else {
            throw .limitExceeded(
                file: fileName, limit: .maxInflationRatio, value: maxInflationRatio,
                found: "entry '\(path)' would bring the bytes inflated to \(inflated + declared), "
                    + "\((inflated + declared) / UInt64(max(archiveSize, 1)))x the \(archiveSize)-byte file")
        }
        inflated += declared
        var result: [UInt8] = []
        // Reserve no more than the archive could hold: a lying header must not reserve gigabytes.
        result.reserveCapacity(Int(min(declared, UInt64(archiveSize))))
        do {
            // The consumer form of `extract` returns the CRC-32 it computed but does not compare it.
            let checksum = try archive.extract(entry) { chunk in
                // A deflated entry could inflate past what its header declares.
                guard UInt64(result.count + chunk.count) <= declared else {
                    throw ImportError.entryTooLarge(file: fileName, entry: path, size: UInt64(result.count + chunk.count), limit: declared)
                }
                result.append(contentsOf: chunk)
            }
            guard checksum == entry.checksum else {
                throw ImportError.invalidZip(
                    file: fileName,
                    reason: "entry '\(path)' fails its CRC-32 check (stored \(entry.checksum), computed \(checksum))")
            }
        } catch let error as ImportError {
            throw error
        } catch {
            throw .invalidZip(file: fileName, reason: "entry '\(path)': \(error)")
        }
        return result
    }

    mutating func isBigEndian(entry path: String) throws(ImportError) -> Bool {
        guard entries[path] != nil else { return false }
        let text = String(decoding: try bytes(of: path, limit: 64), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        switch text {
        case "little": return false
        case "big": return true
        default: throw .unsupportedByteOrder(file: fileName, value: text)
        }
    }

    /// The storage's bytes, checked to be exactly `numel × element size` before and after reading.
    mutating func storageBytes(prefix: String, storage: TorchTensorReference.Storage, tensorKey: String) throws(ImportError) -> [UInt8] {
        let path = prefix + "data/" + storage.key
        guard let entry = entries[path] else { throw .missingEntry(file: fileName, entry: path) }
        let (expected, overflow) = storage.elementCount.multipliedReportingOverflow(by: storage.type.elementSize)
        guard !overflow, UInt64(expected) == entry.uncompressedSize else {
            throw .storageSizeMismatch(
                key: tensorKey, storage: storage.key, expectedBytes: overflow ? Int.max : expected,
                foundBytes: Int(clamping: entry.uncompressedSize))
        }
        let bytes = try bytes(of: path, limit: TorchCheckpoint.maxStorageSize)
        guard bytes.count == expected else {
            throw .storageSizeMismatch(key: tensorKey, storage: storage.key, expectedBytes: expected, foundBytes: bytes.count)
        }
        return bytes
    }
}
