import Glibc

/// Reads a whole file with POSIX calls, so a failure carries strerror's reason ("No such file or
/// directory", "Is a directory") rather than Foundation's generic one. Shared by the converter
/// (.npy arrays; checkpoints are read as `Data`, which ZIPFoundation takes) and the image decoder,
/// which do not depend on each other.
public enum FileBytes {
    public struct Failure: Error {
        public var reason: String
    }

    public static func read(path: String) throws(Failure) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(reason: String(cString: strerror(errno))) }
        defer { _ = close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw Failure(reason: String(cString: strerror(errno))) }
        guard (status.st_mode & S_IFMT) != S_IFDIR else { throw Failure(reason: String(cString: strerror(EISDIR))) }

        // Regular files: one buffer of the announced size. Pipes and devices report 0: read in chunks.
        var bytes: [UInt8] = []
        var chunk = max(Int(status.st_size), 1 << 16)
        while true {
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: chunk))
            var filled = 0
            var failure: Int32 = 0
            bytes.withUnsafeMutableBytes { buffer in
                while filled < chunk {
                    let count = Glibc.read(descriptor, buffer.baseAddress! + start + filled, chunk - filled)
                    if count < 0 {
                        if errno == EINTR { continue }
                        failure = errno
                        return
                    }
                    if count == 0 { return }
                    filled += count
                }
            }
            if failure != 0 { throw Failure(reason: String(cString: strerror(failure))) }
            bytes.removeLast(chunk - filled)
            if filled < chunk { return bytes }
            chunk = 1 << 16
        }
    }
}
