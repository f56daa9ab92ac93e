import ArgumentParser
import WrenConvert
import WrenFiles
import WrenImage

/// A batch of normalized NCHW float32 images and a display name for each.
struct InputBatch {
    var values: [Float] = []
    var names: [String] = []
    var count: Int { names.count }
}

enum Inputs {
    static func fileExtension(_ path: String) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "" }
        return path[path.index(after: dot)...].lowercased()
    }

    /// Loads `.npy` batches ([N,3,H,W] float32, already normalized) and image files (letterboxed to
    /// `size` and normalized with `mean`/`std`), in the order given.
    static func load(_ paths: [String], size: Int, mean: [Float], std: [Float]) throws -> InputBatch {
        var batch = InputBatch()
        for path in paths {
            if fileExtension(path) == "npy" {
                let array = try about(path) { try NumpyArray.read(path: path) }
                guard array.dtype == .float32 || array.dtype == .float64 else {
                    throw CLIError("\(path): holds \(array.dtype.rawValue) values; inputs must be float32 already normalized as in training (raw pixels belong in image files)")
                }
                guard array.shape.count == 4, array.shape[1] == 3, array.shape[2] == size, array.shape[3] == size else {
                    throw CLIError("\(path): expected a float32 array of shape [N, 3, \(size), \(size)], got \(array.shape)")
                }
                batch.values += try about(path) { try array.floats() }
                batch.names += (0..<array.shape[0]).map { "\(path)[\($0)]" }
            } else {
                let image = try about(path) { try ImageDecoder.decode(path: path) }
                batch.values += try about(path) { try Preprocess.letterboxNormalize(image, size: size, mean: mean, std: std) }
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
