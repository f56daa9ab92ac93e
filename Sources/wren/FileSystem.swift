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
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(path): cannot read file (missing or unreadable)")
        }
        return [UInt8](data)
    }

    static func readText(_ path: String) throws -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
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
