import CWren
import WrenCore

/// A failure on its way back to C: the status the caller switches on and the detail for
/// `wren_last_error()`. Everything below the `@_cdecl` entry points throws this one type, so the
/// entry points can turn every failure into a return value (no Swift error crosses into C).
struct CFailure: Error {
    var status: wren_status
    var message: String

    init(_ status: wren_status, _ message: String) {
        self.status = status
        self.message = message
    }

    /// The C status for each runtime error. Exhaustive on purpose: a new `WrenError` case must be
    /// given its own mapping here before this target compiles again.
    init(_ error: WrenError) {
        switch error {
        case .badMagic: self.init(WREN_ERROR_NOT_A_MODEL, error.description)
        case .unsupportedVersion: self.init(WREN_ERROR_UNSUPPORTED_VERSION, error.description)
        case .truncated: self.init(WREN_ERROR_TRUNCATED, error.description)
        case .invalidField: self.init(WREN_ERROR_CORRUPT_MODEL, error.description)
        case .checksumMismatch: self.init(WREN_ERROR_CHECKSUM_MISMATCH, error.description)
        case .batchTooLarge: self.init(WREN_ERROR_BATCH_TOO_LARGE, error.description)
        case .arenaTooLarge: self.init(WREN_ERROR_ARENA_LIMIT_EXCEEDED, error.description)
        case .outOfMemory: self.init(WREN_ERROR_OUT_OF_MEMORY, error.description)
        case .contextBusy: self.init(WREN_ERROR_BUSY, error.description)
        // The entry points check arenas, batches and inputs themselves (each with its own status)
        // before calling the runtime, so what remains here is an argument they do not know about.
        case .invalidInput: self.init(WREN_ERROR_INVALID_ARGUMENT, error.description)
        }
    }
}

/// Records `failure` for `wren_last_error()` on this thread, prefixed with the C function's name,
/// and returns its status.
func report(_ failure: CFailure, in function: StaticString) -> wren_status {
    let text = "\(function): \(failure.message)"
    text.withCString { wren_bridge_set_last_error($0) }
    return failure.status
}

/// Runs the body of a status-returning entry point: `WREN_OK` when it returns, the failure's
/// status (with its detail recorded) when it throws.
func withStatus(_ function: StaticString, _ body: () throws(CFailure) -> Void) -> wren_status {
    do throws(CFailure) {
        try body()
        return WREN_OK
    } catch {
        return report(error, in: function)
    }
}

/// `body`'s value, or `fallback` with the failure recorded, for the entry points that return a
/// value instead of a status (num_classes, arena_size, is_zero_copy).
func withFallback<T>(_ function: StaticString, _ fallback: T, _ body: () throws(CFailure) -> T) -> T {
    do throws(CFailure) {
        return try body()
    } catch {
        _ = report(error, in: function)
        return fallback
    }
}

/// Calls into WrenCore, turning its typed error into a `CFailure`.
func core<T>(_ body: () throws(WrenError) -> T) throws(CFailure) -> T {
    do throws(WrenError) {
        return try body()
    } catch {
        throw CFailure(error)
    }
}

/// Fails with `WREN_ERROR_NULL_ARGUMENT` naming `name` when `pointer` is NULL.
func required<P>(_ pointer: P?, _ name: StaticString) throws(CFailure) -> P {
    guard let pointer else { throw CFailure(WREN_ERROR_NULL_ARGUMENT, "\(name) is NULL") }
    return pointer
}
