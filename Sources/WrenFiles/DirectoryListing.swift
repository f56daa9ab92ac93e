import Glibc

/// Lists a folder with POSIX calls (opendir/readdir/stat), so failures carry strerror's reason.
public enum DirectoryListing {
    public enum Kind: Sendable, Equatable {
        case file
        case folder
        /// A socket, device, FIFO or a link to nothing.
        case other
    }

    public struct Entry: Sendable, Equatable {
        public var name: String
        public var kind: Kind
    }

    /// The entries of `path` (without `.` and `..`), sorted by name; symbolic links are followed.
    public static func entries(of path: String) throws(FileBytes.Failure) -> [Entry] {
        guard let directory = opendir(path) else { throw FileBytes.Failure(reason: String(cString: strerror(errno))) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            names.append(name)
        }
        return names.sorted().map { name in
            var status = stat()
            let full = path.hasSuffix("/") ? path + name : path + "/" + name
            guard stat(full, &status) == 0 else { return Entry(name: name, kind: .other) }
            switch status.st_mode & S_IFMT {
            case S_IFDIR: return Entry(name: name, kind: .folder)
            case S_IFREG: return Entry(name: name, kind: .file)
            default: return Entry(name: name, kind: .other)
            }
        }
    }

    /// True when `path` is a folder (links followed).
    public static func isFolder(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// Up to `count` bytes from the start of the file at `path` (fewer when the file is shorter).
    public static func prefix(of path: String, count: Int) throws(FileBytes.Failure) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileBytes.Failure(reason: String(cString: strerror(errno))) }
        defer { _ = close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        var failure: Int32 = 0
        bytes.withUnsafeMutableBytes { buffer in
            while filled < count {
                let got = Glibc.read(descriptor, buffer.baseAddress! + filled, count - filled)
                if got < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                if got == 0 { return }
                filled += got
            }
        }
        if failure != 0 { throw FileBytes.Failure(reason: String(cString: strerror(failure))) }
        return Array(bytes[0..<filled])
    }
}
