#if canImport(Glibc)
import Glibc
#endif
import CWren
import WrenCore

// The wren_model_* functions of wren.h (documented there).

@_cdecl("wren_model_load")
public func wrenModelLoad(_ bytes: UnsafeRawPointer?, _ length: UInt, _ outModel: UnsafeMutablePointer<OpaquePointer?>?) -> wren_status {
    withStatus("wren_model_load") { () throws(CFailure) in
        let outModel = try required(outModel, "out_model")
        outModel.pointee = nil
        let bytes = try required(bytes, "bytes")
        guard length <= UInt(Int.max) else {
            throw CFailure(WREN_ERROR_INVALID_ARGUMENT, "length \(length) exceeds the largest buffer size \(Int.max)")
        }
        let count = Int(length)
        if isAligned(bytes) {
            outModel.pointee = try makeModelHandle(bytes: UnsafeRawPointer(bytes), count: count, owned: nil)
        } else {
            // The kernels read int32 and float32 blobs in place, so unaligned bytes are copied.
            let copy = try allocateAligned(byteCount: count, purpose: "an aligned copy of the model")
            copy.copyMemory(from: bytes, byteCount: count)
            outModel.pointee = try makeModelHandle(bytes: UnsafeRawPointer(copy), count: count, owned: copy)
        }
    }
}

@_cdecl("wren_model_load_file")
public func wrenModelLoadFile(_ path: UnsafePointer<CChar>?, _ outModel: UnsafeMutablePointer<OpaquePointer?>?) -> wren_status {
    withStatus("wren_model_load_file") { () throws(CFailure) in
        let outModel = try required(outModel, "out_model")
        outModel.pointee = nil
        let path = try required(path, "path")
        let file = try readFile(path)
        do throws(CFailure) {
            outModel.pointee = try makeModelHandle(bytes: UnsafeRawPointer(file.bytes), count: file.count, owned: file.bytes)
        } catch {
            throw CFailure(error.status, "'\(String(cString: path))': \(error.message)")
        }
    }
}

/// Validates `count` bytes at `bytes` (64-byte aligned) and wraps them in a new handle. Takes
/// ownership of `owned` (freed here on failure, with the model otherwise).
private func makeModelHandle(bytes: UnsafeRawPointer, count: Int, owned: UnsafeMutableRawPointer?) throws(CFailure) -> OpaquePointer {
    let handle: UnsafeMutablePointer<ModelHandle>
    let model: WrenModel
    do throws(CFailure) {
        handle = try allocateHandle(ModelHandle.self)
        do throws(CFailure) {
            model = try core { () throws(WrenError) in try WrenModel(borrowing: UnsafeRawBufferPointer(start: bytes, count: count)) }
        } catch {
            free(handle)
            throw error
        }
    } catch {
        free(owned)
        throw error
    }
    let loaded = LoadedModel(model: model, ownedBytes: owned)
    handle.initialize(to: ModelHandle(tag: ModelHandle.liveTag, loaded: Unmanaged.passRetained(loaded)))
    return OpaquePointer(handle)
}

@_cdecl("wren_model_free")
public func wrenModelFree(_ model: OpaquePointer?) {
    guard model != nil else { return }
    do throws(CFailure) {
        let handle = try modelHandle(model)
        handle.pointee.tag = freedTag
        handle.pointee.loaded.release()
        free(handle)
    } catch {
        _ = report(error, in: "wren_model_free")
    }
}

@_cdecl("wren_model_num_classes")
public func wrenModelNumClasses(_ model: OpaquePointer?) -> Int32 {
    withFallback("wren_model_num_classes", -1) { () throws(CFailure) in
        Int32(clamping: try modelHandle(model).pointee.loaded.takeUnretainedValue().model.numClasses)
    }
}

@_cdecl("wren_model_input_shape")
public func wrenModelInputShape(
    _ model: OpaquePointer?, _ channels: UnsafeMutablePointer<Int32>?, _ height: UnsafeMutablePointer<Int32>?,
    _ width: UnsafeMutablePointer<Int32>?
) -> wren_status {
    withStatus("wren_model_input_shape") { () throws(CFailure) in
        let input = try modelHandle(model).pointee.loaded.takeUnretainedValue().model.input
        let channels = try required(channels, "channels")
        let height = try required(height, "height")
        let width = try required(width, "width")
        channels.pointee = Int32(clamping: input.channels)
        height.pointee = Int32(clamping: input.height)
        width.pointee = Int32(clamping: input.width)
    }
}

@_cdecl("wren_model_is_zero_copy")
public func wrenModelIsZeroCopy(_ model: OpaquePointer?) -> Int32 {
    withFallback("wren_model_is_zero_copy", -1) { () throws(CFailure) in
        try modelHandle(model).pointee.loaded.takeUnretainedValue().readsCallerBytes ? 1 : 0
    }
}
