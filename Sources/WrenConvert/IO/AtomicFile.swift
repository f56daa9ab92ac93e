import Glibc  // open/write/fsync/rename; Linux is the supported host

/// Why `AtomicFile.write` did not replace the destination. In every case the destination is
/// untouched and no temporary file is left behind.
public enum AtomicFileError: Error, Equatable, CustomStringConvertible {
    /// The destination is (or resolves to) one of the inputs the caller is still reading from.
    case destinationIsInput(destination: String, input: String)
    /// The directory that should hold the destination does not exist.
    case directoryMissing(directory: String, destination: String)
    /// The destination's parent exists but is not a directory.
    case notADirectory(directory: String, destination: String)
    /// The temporary file could not be created (permissions, full disk, read-only filesystem...).
    case cannotCreateTemporaryFile(directory: String, reason: String)
    /// Writing, syncing or closing the temporary file failed.
    case writeFailed(destination: String, reason: String)
    /// Renaming the temporary file over the destination failed (e.g. the destination is a directory).
    case renameFailed(destination: String, reason: String)
    /// An empty destination path.
    case emptyPath
    /// The destination exists and is a FIFO, a device, a socket...: renaming over it would silently
    /// replace it with a plain file.
    case notARegularFile(destination: String, kind: String)

    public var description: String {
        switch self {
        case .destinationIsInput(let destination, let input):
            return "refusing to write '\(destination)': it is the input '\(input)'; choose another output path"
        case .directoryMissing(let directory, let destination):
            return "cannot write '\(destination)': directory '\(directory)' does not exist"
        case .notADirectory(let directory, let destination):
            return "cannot write '\(destination)': '\(directory)' is not a directory"
        case .cannotCreateTemporaryFile(let directory, let reason):
            return "cannot create a temporary file in '\(directory)': \(reason)"
        case .writeFailed(let destination, let reason):
            return "writing '\(destination)' failed: \(reason)"
        case .renameFailed(let destination, let reason):
            return "cannot replace '\(destination)': \(reason)"
        case .emptyPath:
            return "the output path is empty"
        case .notARegularFile(let destination, let kind):
            return "refusing to write '\(destination)': it is \(kind), not a regular file; choose another output path"
        }
    }
}

/// Replaces a file all at once: readers see either the old content or the new, never a partial
/// file, even if the process dies mid-write.
///
/// A writer killed mid-write leaves its hidden temporary file (`.NAME.tmp-XXXXXX`) behind; the next
/// write of NAME removes such leftovers. A live writer holds an exclusive flock(2) on its temporary
/// file until the rename, and the lock dies with its process, so a temporary file that can be
/// locked is one nobody is writing any more.
public enum AtomicFile {
    /// Writes `bytes` to a temporary file beside `path` (same directory, so the rename cannot
    /// cross filesystems), fsyncs it, renames it over `path`, then fsyncs the directory (best
    /// effort: some filesystems refuse directory fsync).
    ///
    /// Refuses when `path` is the same file as any of `inputs`: same device and inode (which
    /// catches symlinks and hard links), or the same path once the parent directory is resolved
    /// (which catches inputs not yet created). A new file gets mode 0644; a replaced file keeps
    /// its permission bits.
    public static func write(_ bytes: [UInt8], to path: String, refusingToOverwrite inputs: [String] = []) throws(AtomicFileError) {
        guard !path.isEmpty else { throw .emptyPath }
        for input in inputs where isSameFile(path, input) {
            throw .destinationIsInput(destination: path, input: input)
        }
        let (directory, name) = split(path)
        var directoryStatus = stat()
        if stat(directory, &directoryStatus) != 0 {
            let code = errno
            if code == ENOENT { throw .directoryMissing(directory: directory, destination: path) }
            if code == ENOTDIR { throw .notADirectory(directory: directory, destination: path) }
            throw .cannotCreateTemporaryFile(directory: directory, reason: describe(code))
        }
        guard (directoryStatus.st_mode & S_IFMT) == S_IFDIR else {
            throw .notADirectory(directory: directory, destination: path)
        }
        if let kind = specialFileKind(path) { throw .notARegularFile(destination: path, kind: kind) }

        removeStaleTemporaryFiles(directory: directory, name: name)
        let (descriptor, temporaryPath) = try createLockedTemporaryFile(directory: directory, name: name)
        do throws(AtomicFileError) {
            try writeAll(bytes, to: descriptor, destination: path)
            var existing = stat()
            let mode: mode_t = stat(path, &existing) == 0 ? existing.st_mode & 0o7777 : 0o644
            guard fchmod(descriptor, mode) == 0, fsync(descriptor) == 0 else {
                throw .writeFailed(destination: path, reason: describe(errno))
            }
            // Renamed while still open and locked, so no other writer's cleanup can take it first.
            guard rename(temporaryPath, path) == 0 else {
                throw .renameFailed(destination: path, reason: describe(errno))
            }
        } catch {
            _ = unlink(temporaryPath)
            _ = close(descriptor)
            throw error
        }
        _ = close(descriptor)  // the data is already synced and in place
        syncDirectory(directory)
    }

    /// The temporary file's name for `name`: hidden, and well under NAME_MAX whatever `name` is
    /// (mkstemp replaces the six X's).
    static func temporaryPrefix(_ name: String) -> String { ".\(name.prefix(100)).tmp-" }

    /// A new temporary file beside the destination, exclusively locked. If another write's cleanup
    /// removed it between mkstemp and flock (it looked abandoned), try again with a new one.
    private static func createLockedTemporaryFile(directory: String, name: String) throws(AtomicFileError) -> (Int32, String) {
        for _ in 0..<3 {
            var template = Array("\(directory)/\(temporaryPrefix(name))XXXXXX".utf8CString)
            let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            guard descriptor >= 0 else {
                throw .cannotCreateTemporaryFile(directory: directory, reason: describe(errno))
            }
            let temporaryPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
            var status = stat()
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0, fstat(descriptor, &status) == 0, status.st_nlink > 0 {
                return (descriptor, temporaryPath)
            }
            _ = close(descriptor)
        }
        throw .cannotCreateTemporaryFile(directory: directory, reason: "other writers kept removing it")
    }

    /// Removes the temporary files of writes of `name` that died before their rename: ours by name
    /// (`temporaryPrefix` + six characters), regular files, and lockable (no live writer holds them).
    static func removeStaleTemporaryFiles(directory: String, name: String) {
        guard let folder = opendir(directory) else { return }
        defer { closedir(folder) }
        let prefix = temporaryPrefix(name)
        while let entry = readdir(folder) {
            let entryName = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard entryName.hasPrefix(prefix) else { continue }
            let suffix = entryName.dropFirst(prefix.count)
            guard suffix.count == 6, suffix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { continue }
            let candidate = directory == "/" ? "/" + entryName : directory + "/" + entryName
            let descriptor = Glibc.open(candidate, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            var status = stat()
            if fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
                _ = unlink(candidate)
            }
            _ = close(descriptor)
        }
    }

    /// What `path` is when it exists and is neither a regular file (or a link to one) nor a
    /// directory (which the rename refuses by itself): "a FIFO", "a character device", ...
    public static func specialFileKind(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        switch status.st_mode & S_IFMT {
        case S_IFREG, S_IFDIR: return nil
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, destination: String) throws(AtomicFileError) {
        var failure: Int32 = 0
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
        }
        if failure != 0 { throw .writeFailed(destination: destination, reason: describe(failure)) }
    }

    private static func syncDirectory(_ directory: String) {
        let descriptor = Glibc.open(directory, O_RDONLY | O_DIRECTORY)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        _ = close(descriptor)
    }

    /// Same device and inode, or the same path after resolving the parent directory.
    static func isSameFile(_ first: String, _ second: String) -> Bool {
        var firstStatus = stat()
        var secondStatus = stat()
        if stat(first, &firstStatus) == 0, stat(second, &secondStatus) == 0,
           firstStatus.st_dev == secondStatus.st_dev, firstStatus.st_ino == secondStatus.st_ino {
            return true
        }
        return resolvedPath(first) == resolvedPath(second)
    }

    /// The parent directory resolved by realpath(3), plus the last component as given.
    private static func resolvedPath(_ path: String) -> String {
        let (directory, name) = split(path)
        guard let resolved = realpath(directory, nil) else { return path }
        defer { free(resolved) }
        let parent = String(cString: resolved)
        return parent == "/" ? "/" + name : parent + "/" + name
    }

    /// ("dir", "name") for "dir/name", (".", "name") for "name", ("/", "name") for "/name".
    private static func split(_ path: String) -> (directory: String, name: String) {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return (".", String(trimmed)) }
        let name = String(trimmed[trimmed.index(after: slash)...])
        let directory = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
        return (directory, name)
    }

    private static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
