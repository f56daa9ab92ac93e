#if canImport(Glibc)
import Glibc
#endif
import WrenCore

/// A model plus the buffer its bytes live in when the C layer allocated that buffer (a file's
/// contents, or a copy of unaligned caller bytes). Contexts hold a reference too, so the buffer is
/// freed only when the last of the model handle and its contexts lets go.
final class LoadedModel {
    let model: WrenModel
    /// nil when the model reads the caller's bytes in place (zero-copy).
    private let ownedBytes: UnsafeMutableRawPointer?
    /// The strings wren.h hands out (tensor names, metadata, labels) as NUL-terminated copies that
    /// live as long as this object: made once at load, so the getters allocate nothing.
    let tensorNames: [UnsafeMutablePointer<CChar>]
    let metadata: [(key: UnsafeMutablePointer<CChar>, value: UnsafeMutablePointer<CChar>)]
    /// nil when the file has no complete `labels` entry (`ModelDescription.labels`).
    let labels: [UnsafeMutablePointer<CChar>]?

    init(model: WrenModel, ownedBytes: UnsafeMutableRawPointer?) {
        self.model = model
        self.ownedBytes = ownedBytes
        let description = model.description
        tensorNames = description.tensors.map { cString($0.name) }
        metadata = description.metadata.map { (cString($0.key), cString($0.value)) }
        labels = description.labels?.map(cString)
    }

    var readsCallerBytes: Bool { ownedBytes == nil }

    deinit {
        // Nothing but `model` points into the buffer, and `model` is only reachable through this
        // object and the contexts that retain this object, so no reader remains.
        free(ownedBytes)
        for name in tensorNames { name.deallocate() }
        for entry in metadata {
            entry.key.deallocate()
            entry.value.deallocate()
        }
        for label in labels ?? [] { label.deallocate() }
    }
}

/// A NUL-terminated copy of `text` (a small bookkeeping allocation: Swift's allocator, as the model
/// object itself). An embedded NUL ends the C string there.
private func cString(_ text: String) -> UnsafeMutablePointer<CChar> {
    let utf8 = Array(text.utf8)
    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
    for (index, byte) in utf8.enumerated() { copy[index] = CChar(bitPattern: byte) }
    copy[utf8.count] = 0
    return copy
}
