/// A loaded, validated, immutable model. Safe to share between threads; each thread runs it
/// through its own `WrenContext`.
public final class WrenModel: @unchecked Sendable {
    public let description: ModelDescription
    let storage: ModelStorage

    /// Validates and copies `bytes` (into 64-byte-aligned memory the model owns).
    public convenience init(bytes: [UInt8]) throws(WrenError) {
        let storage = bytes.withUnsafeBytes { ModelStorage(copying: $0) }
        try self.init(storage: storage)
    }

    /// Validates `bytes` and keeps a pointer to them without copying: the caller must keep the
    /// memory alive and unchanged for as long as the model exists.
    /// Memory that is not 64-byte aligned is copied instead, because the kernels read int32 and
    /// float32 blobs in place.
    public convenience init(borrowing bytes: UnsafeRawBufferPointer) throws(WrenError) {
        let aligned = bytes.baseAddress.map { UInt(bitPattern: $0) % UInt(WrenFormat.alignment) == 0 } ?? false
        try self.init(storage: aligned ? ModelStorage(borrowing: bytes) : ModelStorage(copying: bytes))
    }

    /// True when the model reads the caller's memory in place.
    public var isZeroCopy: Bool { storage.isBorrowed }

    init(storage: ModelStorage) throws(WrenError) {
        self.storage = storage
        self.description = try ModelReader.read(storage.bytes)
    }

    public var numClasses: Int { description.numClasses }
    public var input: InputInfo { description.input }
    public var bytes: UnsafeRawBufferPointer { storage.bytes }
}
