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
        }
    }
}

/// Replaces a file all at once: readers see either the old content or the new, never a partial
/// file, even if the process dies mid-write.
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

        // Keep the temporary name well under NAME_MAX whatever the destination's name.
        var template = Array("\(directory)/.\(name.prefix(100)).tmp-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw .cannotCreateTemporaryFile(directory: directory, reason: describe(errno))
        }
        let temporaryPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var open = true
        do throws(AtomicFileError) {
            try writeAll(bytes, to: descriptor, destination: path)
            var existing = stat()
            let mode: mode_t = stat(path, &existing) == 0 ? existing.st_mode & 0o7777 : 0o644
            guard fchmod(descriptor, mode) == 0, fsync(descriptor) == 0 else {
                throw .writeFailed(destination: path, reason: describe(errno))
            }
            open = false
            guard close(descriptor) == 0 else {
                throw .writeFailed(destination: path, reason: describe(errno))
            }
            guard rename(temporaryPath, path) == 0 else {
                throw .renameFailed(destination: path, reason: describe(errno))
            }
        } catch {
            if open { _ = close(descriptor) }
            _ = unlink(temporaryPath)
            throw error
        }
        syncDirectory(directory)
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
