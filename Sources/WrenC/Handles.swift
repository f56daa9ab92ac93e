#if canImport(Glibc)
import Glibc
#endif
import CWren
import WrenCore

/// What a `wren_model *` points at. The tag comes first so that a handle of the wrong kind (a
/// context passed as a model, a stray pointer to readable memory) or one already freed is caught
/// with a single raw load, before any Swift reference is touched. Allocated with `malloc`.
struct ModelHandle {
    static let liveTag: UInt64 = 0x4C44_4F4D_4E45_5257  // "WRENMODL" little-endian
    var tag: UInt64
    var loaded: Unmanaged<LoadedModel>
}

/// What a `wren_context *` points at (same tagging as `ModelHandle`).
struct ContextHandle {
    static let liveTag: UInt64 = 0x5458_5443_4E45_5257  // "WRENCTXT" little-endian
    var tag: UInt64
    var context: Unmanaged<WrenContext>
    var loaded: Unmanaged<LoadedModel>
    /// The arena when Wren allocated it (freed with the context); nil for a caller's arena (or one
    /// the `WrenContext` owns itself, as `wren_context_create_with_options` makes).
    var ownedArena: UnsafeMutableRawPointer?
    /// The batch of the latest successful `wren_run` (0 before the first), for `wren_context_activations`.
    /// Written by the thread that ran, which holds the context by wren.h's threading rule.
    var lastBatch: Int32 = 0
}

/// Written over a handle's tag when it is freed, so a second free or a later use of the same
/// memory is reported (as long as the allocator has not handed that memory out again).
let freedTag: UInt64 = 0x4545_5246_4E45_5257  // "WRENFREE"

/// Uninitialized memory for one handle, from `malloc` (so running out of memory is a status, not
/// a trap). Allocated before anything it will own, so that no failure can strand a reference.
func allocateHandle<Handle>(_: Handle.Type) throws(CFailure) -> UnsafeMutablePointer<Handle> {
    guard let memory = malloc(MemoryLayout<Handle>.size) else {
        throw CFailure(WREN_ERROR_OUT_OF_MEMORY, "cannot allocate a \(MemoryLayout<Handle>.size)-byte handle")
    }
    return memory.bindMemory(to: Handle.self, capacity: 1)
}

/// The live handle behind `pointer`, or a failure naming `name` when it is NULL or not tagged `tag`.
func handle<Handle>(_ pointer: OpaquePointer?, _ name: StaticString, tag: UInt64, as _: Handle.Type) throws(CFailure) -> UnsafeMutablePointer<Handle> {
    let pointer = try required(pointer, name)
    let raw = UnsafeRawPointer(pointer)
    // An unaligned pointer cannot be a handle; checking first keeps the tag load itself aligned.
    guard UInt(bitPattern: raw) % UInt(MemoryLayout<UInt64>.alignment) == 0 else {
        throw CFailure(WREN_ERROR_INVALID_HANDLE, "\(name) \(raw) is not a Wren handle (misaligned)")
    }
    let found = raw.load(as: UInt64.self)
    guard found == tag else {
        let what = found == freedTag ? "was already freed" : found == ModelHandle.liveTag ? "is a wren_model" :
            found == ContextHandle.liveTag ? "is a wren_context" : "is not a Wren handle"
        throw CFailure(WREN_ERROR_INVALID_HANDLE, "\(name) \(raw) \(what)")
    }
    return UnsafeMutablePointer<Handle>(pointer)
}

func modelHandle(_ pointer: OpaquePointer?, _ name: StaticString = "model") throws(CFailure) -> UnsafeMutablePointer<ModelHandle> {
    try handle(pointer, name, tag: ModelHandle.liveTag, as: ModelHandle.self)
}

func contextHandle(_ pointer: OpaquePointer?, _ name: StaticString = "context") throws(CFailure) -> UnsafeMutablePointer<ContextHandle> {
    try handle(pointer, name, tag: ContextHandle.liveTag, as: ContextHandle.self)
}
