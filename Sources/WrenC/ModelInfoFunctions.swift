import CWren
import WrenCore

// The model-information functions of wren.h added in 0.2.0 (documented there): tensors, metadata,
// labels and normalization. The strings are the copies `LoadedModel` made at load.

@_cdecl("wren_model_num_tensors")
public func wrenModelNumTensors(_ model: OpaquePointer?) -> Int32 {
    withFallback("wren_model_num_tensors", -1) { () throws(CFailure) in
        Int32(clamping: try modelHandle(model).pointee.loaded.takeUnretainedValue().tensorNames.count)
    }
}

@_cdecl("wren_model_tensor")
public func wrenModelTensor(_ model: OpaquePointer?, _ index: Int32, _ outInfo: UnsafeMutablePointer<wren_tensor_info>?) -> wren_status {
    withStatus("wren_model_tensor") { () throws(CFailure) in
        let loaded = try modelHandle(model).pointee.loaded.takeUnretainedValue()
        let outInfo = try required(outInfo, "out_info")
        let tensors = loaded.model.description.tensors
        try checkIndex(index, count: tensors.count, what: "tensor")
        let tensor = tensors[Int(index)]
        outInfo.pointee = wren_tensor_info(
            name: UnsafePointer(loaded.tensorNames[Int(index)]), channels: Int32(clamping: tensor.channels),
            height: Int32(clamping: tensor.height), width: Int32(clamping: tensor.width), scale: tensor.scale,
            zero_point: tensor.zeroPoint, element_size: Int32(tensor.elementType.byteSize))
    }
}

@_cdecl("wren_model_num_metadata")
public func wrenModelNumMetadata(_ model: OpaquePointer?) -> Int32 {
    withFallback("wren_model_num_metadata", -1) { () throws(CFailure) in
        Int32(clamping: try modelHandle(model).pointee.loaded.takeUnretainedValue().metadata.count)
    }
}

@_cdecl("wren_model_metadata")
public func wrenModelMetadata(
    _ model: OpaquePointer?, _ index: Int32, _ key: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
    _ value: UnsafeMutablePointer<UnsafePointer<CChar>?>?
) -> wren_status {
    withStatus("wren_model_metadata") { () throws(CFailure) in
        let loaded = try modelHandle(model).pointee.loaded.takeUnretainedValue()
        let key = try required(key, "key")
        let value = try required(value, "value")
        try checkIndex(index, count: loaded.metadata.count, what: "metadata entry")
        key.pointee = UnsafePointer(loaded.metadata[Int(index)].key)
        value.pointee = UnsafePointer(loaded.metadata[Int(index)].value)
    }
}

@_cdecl("wren_model_label")
public func wrenModelLabel(_ model: OpaquePointer?, _ classIndex: Int32, _ label: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> wren_status {
    withStatus("wren_model_label") { () throws(CFailure) in
        let loaded = try modelHandle(model).pointee.loaded.takeUnretainedValue()
        let label = try required(label, "label")
        try checkIndex(classIndex, count: loaded.model.numClasses, what: "class")
        label.pointee = loaded.labels.map { UnsafePointer($0[Int(classIndex)]) }
    }
}

@_cdecl("wren_model_normalization")
public func wrenModelNormalization(
    _ model: OpaquePointer?, _ mean: UnsafeMutablePointer<Float>?, _ std: UnsafeMutablePointer<Float>?, _ channels: Int32
) -> wren_status {
    withStatus("wren_model_normalization") { () throws(CFailure) in
        let input = try modelHandle(model).pointee.loaded.takeUnretainedValue().model.description.input
        let mean = try required(mean, "mean")
        let std = try required(std, "std")
        guard Int(channels) == input.channels, input.mean.count == input.channels, input.std.count == input.channels else {
            throw CFailure(WREN_ERROR_INVALID_ARGUMENT, "channels is \(channels); the model's input has \(input.channels)")
        }
        for channel in 0..<input.channels {
            mean[channel] = input.mean[channel]
            std[channel] = input.std[channel]
        }
    }
}

/// Fails with `WREN_ERROR_INVALID_ARGUMENT` unless `index` is in 0..<count.
private func checkIndex(_ index: Int32, count: Int, what: String) throws(CFailure) {
    guard index >= 0, Int(index) < count else {
        throw CFailure(WREN_ERROR_INVALID_ARGUMENT, "\(what) \(index) is outside 0...\(count - 1)")
    }
}
