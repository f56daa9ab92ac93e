import Foundation

/// The repository's `fixtures/` folder, found from this file's path.
enum Fixtures {
    static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" && !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent("fixtures")
    }()

    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    /// A JSON file's top level, or nil when it is missing or malformed (the callers assert counts).
    static func json(_ path: String) -> Any? {
        guard let data = try? Data(contentsOf: url(path)) else { return nil }
        return try? JSONSerialization.jsonObject(with: data)
    }

    /// The tensor table in a safetensors header: key → {dtype, shape, data_offsets}, without `__metadata__`.
    static func safetensorsHeader(_ path: String) throws -> [String: [String: Any]] {
        let bytes = try Data(contentsOf: url(path))
        guard bytes.count >= 8 else { throw FixtureError("\(path) is shorter than a safetensors length prefix") }
        let length = bytes.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        guard length <= bytes.count - 8,
              var header = try JSONSerialization.jsonObject(with: bytes.dropFirst(8).prefix(length)) as? [String: Any] else {
            throw FixtureError("\(path) has no readable safetensors header")
        }
        header.removeValue(forKey: "__metadata__")
        guard let tensors = header as? [String: [String: Any]] else { throw FixtureError("\(path): a header entry is not an object") }
        return tensors
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
