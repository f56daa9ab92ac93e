import ArgumentParser
import WrenConvert
import WrenFiles
import WrenImage

/// A batch of normalized NCHW float32 images of one size and a display name for each.
struct InputBatch {
    var values: [Float] = []
    var names: [String] = []
    var height = 32
    var width = 32
    var count: Int { names.count }

    /// Image `index` alone, for tracing where it went wrong.
    func image(_ index: Int) -> [Float] {
        let perImage = 3 * height * width
        return Array(values[(index * perImage)..<((index + 1) * perImage)])
    }
}

enum Inputs {
    static func fileExtension(_ path: String) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "" }
        return path[path.index(after: dot)...].lowercased()
    }

    /// Loads `.npy` batches ([N,3,H,W] float32 or float64, already normalized; H and W those of
    /// the model) and image files (letterboxed to `height` x `width`, which must be square, and
    /// normalized with `mean`/`std`), in the order given. `model` names the model in errors.
    /// `sizeFromNpy`: when every path is a `.npy`, the first one's H and W replace `height` x
    /// `width` (a fully convolutional float reference runs at any size).
    static func load(
        _ paths: [String], height: Int, width: Int, mean: [Float], std: [Float], model: String, sizeFromNpy: Bool = false
    ) throws -> InputBatch {
        var (height, width) = (height, width)
        var adoptSize = sizeFromNpy && paths.allSatisfy { fileExtension($0) == "npy" }
        var batch = InputBatch(height: height, width: width)
        for path in paths {
            if fileExtension(path) == "npy" {
                let array = try about(path) {
                    do {
                        return try NumpyArray.read(path: path)
                    } catch NumpyError.unsupportedDType(_, let descr) {
                        // The reader's own message lists the integer types too, which inputs may not be.
                        throw CLIError("\(path): holds '\(descr)' values; inputs must be float32 or float64, already normalized as in training")
                    }
                }
                guard array.dtype == .float32 || array.dtype == .float64 else {
                    throw CLIError("\(path): holds \(array.dtype) values; inputs must be float32 or float64, already normalized "
                                   + "as in training (raw pixels belong in image files)")
                }
                if adoptSize, array.shape.count == 4 {
                    (height, width) = (array.shape[2], array.shape[3])
                    (batch.height, batch.width) = (height, width)
                    adoptSize = false
                }
                guard array.shape.count == 4, array.shape[1] == 3, array.shape[2] == height, array.shape[3] == width else {
                    throw CLIError("\(path): holds an array of shape \(array.shape); \(model) takes [N, 3, \(height), \(width)]")
                }
                guard array.shape[0] > 0 else { throw CLIError("\(path): holds no inputs (shape \(array.shape))") }
                batch.values += try about(path) { try array.floats() }
                batch.names += (0..<array.shape[0]).map { "\(path)[\($0)]" }
            } else {
                guard height == width, height <= Preprocess.maxLetterboxSize else {
                    throw CLIError("\(path): \(model) takes \(height)x\(width) inputs, and images are only letterboxed into squares "
                                   + "of up to \(Preprocess.maxLetterboxSize) pixels; give it a .npy [N, 3, \(height), \(width)] instead")
                }
                let image = try about(path) { try ImageDecoder.decode(path: path) }
                batch.values += try about(path) { try Preprocess.letterboxNormalize(image, size: height, mean: mean, std: std) }
                batch.names.append(path)
            }
        }
        return batch
    }

    /// Expands folders into the image files they hold (sorted; JPEG and PNG, recognised by content,
    /// hidden files ignored, other files listed once in a note), keeps files as they are.
    static func expandFolders(_ paths: [String]) throws -> [String] {
        var result: [String] = []
        for path in paths {
            guard FileSystem.isDirectory(path) else {
                result.append(path)
                continue
            }
            var images: [String] = []
            var skipped: [String] = []
            for file in try FileSystem.listFiles(path) where !FileSystem.fileName(file).hasPrefix(".") {
                let prefix = (try? DirectoryListing.prefix(of: file, count: ImageFormatSniffer.prefixLength)) ?? []
                if ImageFormat(signatureOf: prefix) != nil {
                    images.append(file)
                } else {
                    skipped.append(FileSystem.fileName(file) + (ImageFormatSniffer.format(of: prefix).map { " (\($0))" } ?? ""))
                }
            }
            guard !images.isEmpty else {
                throw CLIError("\(path): folder holds no \(ImageFormat.readable) images" + (skipped.isEmpty ? "" : " (only \(skipped.joined(separator: ", ")))"))
            }
            if !skipped.isEmpty {
                Diagnostics.note("\(path): skipped \(skipped.count) file\(skipped.count == 1 ? "" : "s") that \(skipped.count == 1 ? "is" : "are") not \(ImageFormat.readable) images: "
                                 + skipped.joined(separator: ", "))
            }
            result += images
        }
        return result
    }
}
