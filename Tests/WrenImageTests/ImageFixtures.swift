import Foundation

/// Locates fixtures/images/ (made by tools/make_image_fixtures.py) and reads the .npy files it
/// wrote. WrenImageTests does not depend on WrenConvert, so this is a minimal reader for those
/// trusted fixtures only: version 1.0, C order, '|u1' or '<f4'.
enum ImageFixtures {
    static let directory: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { break }
        }
        return url.appendingPathComponent("fixtures/images")
    }()

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: directory.appendingPathComponent(name))) }

    struct Array<Element> {
        var shape: [Int]
        var values: [Element]
    }

    struct FixtureError: Error, CustomStringConvertible { var description: String }

    static func uint8Array(_ name: String) throws -> Array<UInt8> {
        let (shape, data) = try npy(name, descr: "|u1")
        return Array(shape: shape, values: data)
    }

    static func float32Array(_ name: String) throws -> Array<Float> {
        let (shape, data) = try npy(name, descr: "<f4")
        let values = stride(from: 0, to: data.count, by: 4).map { offset in
            Float(bitPattern: UInt32(data[offset]) | UInt32(data[offset + 1]) << 8 | UInt32(data[offset + 2]) << 16 | UInt32(data[offset + 3]) << 24)
        }
        return Array(shape: shape, values: values)
    }

    private static func npy(_ name: String, descr: String) throws -> ([Int], [UInt8]) {
        let file = try bytes(name)
        guard file.count >= 10, file[0] == 0x93, file[6] == 1 else { throw FixtureError(description: "\(name): not a v1 .npy") }
        let headerLength = Int(file[8]) | Int(file[9]) << 8
        let header = String(decoding: file[10..<(10 + headerLength)], as: UTF8.self)
        guard header.contains("'descr': '\(descr)'"), header.contains("'fortran_order': False"),
              let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw FixtureError(description: "\(name): unexpected header \(header)")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (shape, Swift.Array(file[(10 + headerLength)...]))
    }
}
