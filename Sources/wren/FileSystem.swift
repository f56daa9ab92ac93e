import ArgumentParser
import Foundation

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
        if isDirectory(path) { throw CLIError("\(path): is a folder, not a file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(exists(path) ? "\(path): cannot read file (permission denied?)" : "\(path): no such file")
        }
        return [UInt8](data)
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
    /// True when both paths name the same existing file (after resolving links), or are equal.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        let fm = FileManager.default
        guard let x = try? fm.attributesOfItem(atPath: a), let y = try? fm.attributesOfItem(atPath: b) else {
            return (a as NSString).standardizingPath == (b as NSString).standardizingPath
        }
        return (x[.systemNumber] as? NSNumber) == (y[.systemNumber] as? NSNumber)
            && (x[.systemFileNumber] as? NSNumber) == (y[.systemFileNumber] as? NSNumber)
    }

    static func parentFolder(_ path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }
}
