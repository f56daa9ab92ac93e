import Foundation

/// A minimal, independent `.npy` reader for checking what the CLI wrote: little-endian float32
/// only, C order. Kept separate from WrenConvert's reader so the tests do not trust the code
/// they test.
struct NpyFloat32 {
    var shape: [Int]
    var values: [Float]

    enum Failure: Error, CustomStringConvertible {
        case malformed(String)
        var description: String {
            switch self { case .malformed(let why): return "not a float32 .npy: \(why)" }
        }
    }

    init(path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw Failure.malformed("\(path): missing the \\x93NUMPY magic")
        }
        let major = bytes[6]
        let headerStart = major == 1 ? 10 : 12
        guard bytes.count >= headerStart else { throw Failure.malformed("\(path): truncated preamble") }
        let headerLength = major == 1
            ? Int(bytes[8]) | Int(bytes[9]) << 8
            : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
        guard bytes.count >= headerStart + headerLength else { throw Failure.malformed("\(path): truncated header") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard header.contains("'descr': '<f4'") else { throw Failure.malformed("\(path): header \(header)") }
        guard header.contains("'fortran_order': False") else { throw Failure.malformed("\(path): Fortran order") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw Failure.malformed("\(path): no shape in \(header)")
        }
        shape = header[open.upperBound..<close].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.compactMap { Int($0) }
        let count = shape.reduce(1, *)
        let data = bytes[(headerStart + headerLength)...]
        guard data.count == count * 4 else {
            throw Failure.malformed("\(path): shape \(shape) needs \(count * 4) bytes, found \(data.count)")
        }
        values = stride(from: data.startIndex, to: data.endIndex, by: 4).map { i in
            Float(bitPattern: UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24)
        }
    }
}
