import CWren
import WrenCore
import WrenImage

// wren_model_preprocess_file and _rgb of wren.h (documented there): WrenImage's decoder and
// letterbox, the very code `wren run` calls on image inputs, with the model's size, mean and std.

@_cdecl("wren_model_preprocess_file")
public func wrenModelPreprocessFile(_ model: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ outCHW: UnsafeMutablePointer<Float>?) -> wren_status {
    withStatus("wren_model_preprocess_file") { () throws(CFailure) in
        let input = try modelHandle(model).pointee.loaded.takeUnretainedValue().model.description.input
        let path = try required(path, "path")
        let out = try required(outCHW, "out_chw")
        try checkImageInput(input)
        let image = try imaging { () throws(ImageError) in try ImageDecoder.decode(path: String(cString: path)) }
        try letterbox(image, input, into: out)
    }
}

@_cdecl("wren_model_preprocess_rgb")
public func wrenModelPreprocessRGB(
    _ model: OpaquePointer?, _ rgb: UnsafePointer<UInt8>?, _ width: Int32, _ height: Int32, _ outCHW: UnsafeMutablePointer<Float>?
) -> wren_status {
    withStatus("wren_model_preprocess_rgb") { () throws(CFailure) in
        let input = try modelHandle(model).pointee.loaded.takeUnretainedValue().model.description.input
        let rgb = try required(rgb, "rgb")
        let out = try required(outCHW, "out_chw")
        try checkImageInput(input)
        let limit = ImageDecoder.maxDimension
        guard width >= 1, height >= 1, Int(width) <= limit, Int(height) <= limit else {
            throw CFailure(WREN_ERROR_INVALID_ARGUMENT, "the image is \(width)x\(height); each side must be in 1...\(limit)")
        }
        let count = Int(width) * Int(height) * 3
        let image = RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: rgb, count: count)))
        try letterbox(image, input, into: out)
    }
}

/// Images are letterboxed into squares of 3 channels, as `wren run` requires.
private func checkImageInput(_ input: InputInfo) throws(CFailure) {
    guard input.channels == 3, input.height == input.width, input.height <= Preprocess.maxLetterboxSize else {
        throw CFailure(
            WREN_ERROR_INVALID_ARGUMENT,
            "the model takes \(input.channels)x\(input.height)x\(input.width) inputs; images are only letterboxed into 3-channel squares of up to \(Preprocess.maxLetterboxSize) pixels")
    }
}

private func letterbox(_ image: RGBImage, _ input: InputInfo, into out: UnsafeMutablePointer<Float>) throws(CFailure) {
    let values = try imaging { () throws(ImageError) in
        try Preprocess.letterboxNormalize(image, size: input.height, mean: input.mean, std: input.std)
    }
    for (index, value) in values.enumerated() { out[index] = value }
}

/// Calls WrenImage, turning its typed error into a `CFailure`.
private func imaging<T>(_ body: () throws(ImageError) -> T) throws(CFailure) -> T {
    do throws(ImageError) {
        return try body()
    } catch {
        switch error {
        case .unreadableFile: throw CFailure(WREN_ERROR_FILE_UNREADABLE, error.description)
        case .unsupportedFormat, .corrupt, .tooLarge, .tooManyScans: throw CFailure(WREN_ERROR_BAD_IMAGE, error.description)
        case .outOfMemory: throw CFailure(WREN_ERROR_OUT_OF_MEMORY, error.description)
        case .invalidArgument: throw CFailure(WREN_ERROR_INVALID_ARGUMENT, error.description)
        }
    }
}
