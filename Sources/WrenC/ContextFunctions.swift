#if canImport(Glibc)
import Glibc
#endif
import CWren
import WrenCore
import WrenHost

// The wren_context_* functions of wren.h (documented there).

/// Fails with `WREN_ERROR_INVALID_BATCH` unless `maxBatch` is in 1...WREN_MAX_BATCH_LIMIT.
private func checkMaxBatch(_ maxBatch: Int32) throws(CFailure) {
    guard maxBatch >= 1, maxBatch <= WREN_MAX_BATCH_LIMIT else {
        throw CFailure(WREN_ERROR_INVALID_BATCH, "max_batch \(maxBatch) is outside 1...\(WREN_MAX_BATCH_LIMIT)")
    }
}

@_cdecl("wren_context_arena_size")
public func wrenContextArenaSize(_ model: OpaquePointer?, _ maxBatch: Int32) -> UInt {
    withFallback("wren_context_arena_size", 0) { () throws(CFailure) in
        let loaded = try modelHandle(model).pointee.loaded.takeUnretainedValue()
        try checkMaxBatch(maxBatch)
        return UInt(try core { () throws(WrenError) in try WrenContext.arenaSize(model: loaded.model, maxBatch: Int(maxBatch), kernels: cKernels) })
    }
}

@_cdecl("wren_context_create")
public func wrenContextCreate(
    _ model: OpaquePointer?, _ maxBatch: Int32, _ arena: UnsafeMutableRawPointer?, _ arenaSize: UInt,
    _ outContext: UnsafeMutablePointer<OpaquePointer?>?
) -> wren_status {
    withStatus("wren_context_create") { () throws(CFailure) in
        try createContext(model, maxBatch, arena: arena, arenaSize: arenaSize, arenaLimit: UInt(WREN_DEFAULT_ARENA_LIMIT), outContext)
    }
}

@_cdecl("wren_context_create_with_arena_limit")
public func wrenContextCreateWithArenaLimit(
    _ model: OpaquePointer?, _ maxBatch: Int32, _ arenaLimit: UInt, _ outContext: UnsafeMutablePointer<OpaquePointer?>?
) -> wren_status {
    withStatus("wren_context_create_with_arena_limit") { () throws(CFailure) in
        try createContext(model, maxBatch, arena: nil, arenaSize: 0, arenaLimit: arenaLimit, outContext)
    }
}

/// Both creation functions: `arena` is the caller's (no limit applies) or nil, when Wren allocates
/// at most `arenaLimit` bytes.
private func createContext(
    _ model: OpaquePointer?, _ maxBatch: Int32, arena: UnsafeMutableRawPointer?, arenaSize: UInt, arenaLimit: UInt,
    _ outContext: UnsafeMutablePointer<OpaquePointer?>?
) throws(CFailure) {
    let outContext = try required(outContext, "out_context")
    outContext.pointee = nil
    let loaded = try modelHandle(model).pointee.loaded.takeUnretainedValue()
    try checkMaxBatch(maxBatch)
    let needed = try core { () throws(WrenError) in try WrenContext.arenaSize(model: loaded.model, maxBatch: Int(maxBatch), kernels: cKernels) }

    let handle = try allocateHandle(ContextHandle.self)
    let memory: UnsafeMutableRawPointer
    let owned: UnsafeMutableRawPointer?
    do throws(CFailure) {
        if let arena {
            guard arenaSize >= UInt(needed) else {
                throw CFailure(WREN_ERROR_ARENA_TOO_SMALL, "the arena holds \(arenaSize) bytes, \(needed) needed for max_batch \(maxBatch) (see wren_context_arena_size)")
            }
            guard isAligned(arena) else {
                let remainder = UInt(bitPattern: arena) % UInt(WREN_ARENA_ALIGNMENT)
                throw CFailure(WREN_ERROR_ARENA_MISALIGNED, "the arena at \(arena) is not \(WREN_ARENA_ALIGNMENT)-byte aligned (address mod \(WREN_ARENA_ALIGNMENT) = \(remainder))")
            }
            memory = arena
            owned = nil
        } else {
            guard UInt(needed) <= arenaLimit else {
                throw CFailure(
                    WREN_ERROR_ARENA_LIMIT_EXCEEDED,
                    "\(WrenError.arenaTooLarge(bytes: needed, limit: Int(clamping: arenaLimit), maxBatch: Int(maxBatch))) (wren_context_create_with_arena_limit allows more)")
            }
            memory = try allocateAligned(byteCount: needed, purpose: "the arena (max_batch \(maxBatch))")
            owned = memory
        }
    } catch {
        free(handle)
        throw error
    }

    let context: WrenContext
    do throws(CFailure) {
        context = try core { () throws(WrenError) in
            try WrenContext(model: loaded.model, maxBatch: Int(maxBatch), arena: UnsafeMutableRawBufferPointer(start: memory, count: needed), kernels: cKernels)
        }
    } catch {
        free(owned)
        free(handle)
        throw error
    }
    handle.initialize(to: ContextHandle(
        tag: ContextHandle.liveTag, context: Unmanaged.passRetained(context), loaded: Unmanaged.passRetained(loaded),
        ownedArena: owned))
    outContext.pointee = OpaquePointer(handle)
}

@_cdecl("wren_context_free")
public func wrenContextFree(_ context: OpaquePointer?) {
    guard context != nil else { return }
    do throws(CFailure) {
        let handle = try contextHandle(context)
        handle.pointee.tag = freedTag
        // Order matters: the runtime context first (it uses the arena and the model's bytes), then
        // the arena, then the model (which may own the bytes).
        handle.pointee.context.release()
        free(handle.pointee.ownedArena)
        handle.pointee.loaded.release()
        free(handle)
    } catch {
        _ = report(error, in: "wren_context_free")
    }
}

@_cdecl("wren_context_create_with_options")
public func wrenContextCreateWithOptions(
    _ model: OpaquePointer?, _ options: UnsafePointer<wren_context_options>?, _ outContext: UnsafeMutablePointer<OpaquePointer?>?
) -> wren_status {
    withStatus("wren_context_create_with_options") { () throws(CFailure) in
        let outContext = try required(outContext, "out_context")
        outContext.pointee = nil
        let loaded = try modelHandle(model).pointee.loaded.takeUnretainedValue()
        let options = try required(options, "options").pointee
        try checkMaxBatch(options.max_batch)
        guard options.threads >= 0, options.threads <= WREN_MAX_THREADS else {
            throw CFailure(WREN_ERROR_INVALID_ARGUMENT, "threads \(options.threads) is outside 0...\(WREN_MAX_THREADS) (0: one per processor)")
        }
        let threads = options.threads == 0 ? min(ThreadPool.processorCount, Int(WREN_MAX_THREADS)) : Int(options.threads)
        let limit = options.arena_limit > UInt(Int.max) ? Int.max : Int(options.arena_limit)
        let handle = try allocateHandle(ContextHandle.self)
        let context: WrenContext
        do throws(CFailure) {
            // The pool lives as long as the context: its `parallelism` closure keeps it.
            let parallelism = threads > 1 ? ThreadPool(workers: threads).parallelism : .serial
            context = try core { () throws(WrenError) in
                try WrenContext(
                    model: loaded.model, maxBatch: Int(options.max_batch), retainActivations: options.retain_activations != 0,
                    kernels: cKernels, parallelism: parallelism, arenaLimit: limit)
            }
        } catch {
            free(handle)
            if error.status == WREN_ERROR_ARENA_LIMIT_EXCEEDED {
                throw CFailure(error.status, "\(error.message) (options.arena_limit allows more)")
            }
            throw error
        }
        handle.initialize(to: ContextHandle(
            tag: ContextHandle.liveTag, context: Unmanaged.passRetained(context), loaded: Unmanaged.passRetained(loaded),
            ownedArena: nil))
        outContext.pointee = OpaquePointer(handle)
    }
}

@_cdecl("wren_context_threads")
public func wrenContextThreads(_ context: OpaquePointer?) -> Int32 {
    withFallback("wren_context_threads", -1) { () throws(CFailure) in
        Int32(clamping: try contextHandle(context).pointee.context.takeUnretainedValue().parallelism.workers)
    }
}

@_cdecl("wren_context_last_batch")
public func wrenContextLastBatch(_ context: OpaquePointer?) -> Int32 {
    withFallback("wren_context_last_batch", -1) { () throws(CFailure) in try contextHandle(context).pointee.lastBatch }
}

@_cdecl("wren_context_activations")
public func wrenContextActivations(_ context: OpaquePointer?, _ tensor: Int32, _ out: UnsafeMutableRawPointer?, _ outSize: UInt) -> wren_status {
    withStatus("wren_context_activations") { () throws(CFailure) in
        let handle = try contextHandle(context)
        let runner = handle.pointee.context.takeUnretainedValue()
        let out = try required(out, "out")
        let tensors = runner.model.description.tensors
        guard runner.retainsActivations else {
            throw CFailure(WREN_ERROR_INVALID_ARGUMENT, "the context keeps no activations (create it with options.retain_activations = 1)")
        }
        guard tensor >= 0, Int(tensor) < tensors.count else {
            throw CFailure(WREN_ERROR_INVALID_ARGUMENT, "tensor \(tensor) is outside 0...\(tensors.count - 1)")
        }
        let batch = Int(handle.pointee.lastBatch)
        guard batch >= 1 else { throw CFailure(WREN_ERROR_INVALID_ARGUMENT, "the context has not run yet (call wren_run first)") }
        let info = tensors[Int(tensor)]
        let needed = info.byteCount * batch
        guard outSize >= UInt(needed) else {
            throw CFailure(
                WREN_ERROR_INVALID_ARGUMENT,
                "out holds \(outSize) bytes; tensor '\(info.name)' needs \(needed) (\(batch) x \(info.height)x\(info.width)x\(info.channels) x \(info.elementType.byteSize) bytes)")
        }
        if let values = runner.activations(tensor: Int(tensor), batch: batch) {
            out.copyMemory(from: values.baseAddress!, byteCount: needed)
        } else if let values = runner.wideActivations(tensor: Int(tensor), batch: batch) {
            out.copyMemory(from: values.baseAddress!, byteCount: needed)
        } else {
            throw CFailure(WREN_ERROR_INTERNAL, "tensor '\(info.name)' has no retained values")
        }
    }
}

/// The fastest kernels this CPU supports (or `WREN_KERNELS`), chosen once per process; a context
/// from C runs on the calling thread.
private let cKernels: KernelTable = (try? KernelSelection.selectedKernels()) ?? .portable
