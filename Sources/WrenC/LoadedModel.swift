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

    init(model: WrenModel, ownedBytes: UnsafeMutableRawPointer?) {
        self.model = model
        self.ownedBytes = ownedBytes
    }

    var readsCallerBytes: Bool { ownedBytes == nil }

    deinit {
        // Nothing but `model` points into the buffer, and `model` is only reachable through this
        // object and the contexts that retain this object, so no reader remains.
        free(ownedBytes)
    }
}
