import Glibc

/// Reads a whole file with POSIX calls, so a failure carries strerror's reason ("No such file or
/// directory", "Is a directory") rather than Foundation's generic one. The one file reader of the
/// host modules: the CLI, the importers (with a size limit), `.npy` arrays and the image decoder.
/// (WrenCore reads `.wren` files itself, without this module, and the C API into aligned memory.)
public enum FileBytes {
    public struct Failure: Error {
        public var reason: String
        /// Set when the file is larger than the limit given: its size, or "more than N" bytes for
        /// a pipe or device, whose size is only known by reading it.
        public var oversize: String?

        init(reason: String, oversize: String? = nil) {
            self.reason = reason
            self.oversize = oversize
        }
    }

    /// - Parameter limit: the most bytes read; a larger regular file is refused before reading,
    ///   a stream as soon as reading passes it.
    public static func read(path: String, limit: Int = .max) throws(Failure) -> [UInt8] {
        func systemFailure(_ code: Int32) -> Failure { Failure(reason: String(cString: strerror(code))) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw systemFailure(errno) }
        defer { _ = close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw systemFailure(errno) }
        guard (status.st_mode & S_IFMT) != S_IFDIR else { throw systemFailure(EISDIR) }
        let announced = Int(status.st_size)
        guard announced <= limit else { throw Failure(reason: "the file is \(announced) bytes", oversize: "\(announced)") }

        // Regular files: one buffer of the announced size (and one more read that finds the end).
        // Pipes and devices report 0: read in chunks.
        var bytes: [UInt8] = []
        var chunk = max(announced, 1 << 16)
        bytes.reserveCapacity(announced + (1 << 16))
        while true {
            let start = bytes.count
            let wanted = limit == .max ? chunk : max(min(chunk, limit &+ 1 &- start), 1)
            bytes.append(contentsOf: repeatElement(0, count: wanted))
            var filled = 0
            var failure: Int32 = 0
            bytes.withUnsafeMutableBytes { buffer in
                while filled < wanted {
                    let count = Glibc.read(descriptor, buffer.baseAddress! + start + filled, wanted - filled)
                    if count < 0 {
                        if errno == EINTR { continue }
                        failure = errno
                        return
                    }
                    if count == 0 { return }
                    filled += count
                }
            }
            if failure != 0 { throw systemFailure(failure) }
            bytes.removeLast(wanted - filled)
            guard bytes.count <= limit else { throw Failure(reason: "the file is more than \(limit) bytes", oversize: "more than \(limit)") }
            if filled < wanted { return bytes }
            chunk = 1 << 16
        }
    }
}
