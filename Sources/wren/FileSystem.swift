import ArgumentParser
import Foundation
import WrenConvert
import WrenFiles

enum FileSystem {
    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Regular files directly inside `folder`, as full paths, sorted by name.
    static func listFiles(_ folder: String) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        return names.map { (folder as NSString).appendingPathComponent($0) }.filter { !isDirectory($0) }
    }

    static func readBytes(_ path: String) throws -> [UInt8] {
        do {
            return try FileBytes.read(path: path)
        } catch {
            throw CLIError(unreadable(path, error.reason))
        }
    }

    /// The one way a file that cannot be read is named, as the importers and decoders name it too:
    /// "cannot read 'PATH': No such file or directory".
    static func unreadable(_ path: String, _ reason: String) -> String {
        "cannot read '\(path)': \(reason)"
    }

    /// Refuses, before any work starts, input paths that do not exist (files or folders).
    static func requireExisting(_ paths: [String]) throws {
        for path in paths where !exists(path) {
            throw ValidationError(unreadable(path, String(cString: strerror(ENOENT))))
        }
    }

    /// Refuses, before any work starts, a path that is missing or a folder where a file is needed.
    static func requireFile(_ path: String, option: String) throws {
        try requireExisting([path])
        if isDirectory(path) { throw ValidationError("\(option): \(unreadable(path, String(cString: strerror(EISDIR))))") }
    }

    /// The file as UTF-8, without the byte order mark some editors write first.
    static func readText(_ path: String) throws -> String {
        let bytes = try readBytes(path)
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        return String(decoding: bytes.starts(with: bom) ? bytes.dropFirst(3) : bytes[...], as: UTF8.self)
    }

    static func fileName(_ path: String) -> String {
        (path as NSString).lastPathComponent
    }
}

extension FileSystem {
    static func exists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }
}

extension FileSystem {
    /// True when both paths name the same existing file (after following symbolic links, so a link
    /// to an input counts as the input), or are equal.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        var x = stat()
        var y = stat()
        guard stat(a, &x) == 0, stat(b, &y) == 0 else {
            return (a as NSString).standardizingPath == (b as NSString).standardizingPath
        }
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    /// Refuses, before any work starts, an output `option` cannot or must not write: one of the
    /// `inputs` (also through a link), a folder, a FIFO or device (which the final rename would
    /// silently replace), or a file in a missing or read-only folder.
    static func checkOutput(_ path: String, option: String, inputs: [String]) throws {
        if let input = inputs.first(where: { sameFile($0, path) }) {
            throw ValidationError("\(option) \(path) would overwrite the input \(input)")
        }
        let folder = parentFolder(path)
        guard isDirectory(folder) else { throw ValidationError("\(option): folder '\(folder)' does not exist") }
        if isDirectory(path) { throw ValidationError("\(option) \(path) is a folder; name a file in it") }
        if let kind = AtomicFile.specialFileKind(path) {
            throw ValidationError("\(option) \(path) is \(kind), not a regular file; choose another output path")
        }
        guard access(folder, W_OK) == 0 else {
            throw ValidationError("\(option): cannot write in folder '\(folder)' (\(String(cString: strerror(errno))))")
        }
    }

    static func parentFolder(_ path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }
}
