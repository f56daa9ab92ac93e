// Shared by the `wren-model` and `validate` harnesses: tools/fuzz.sh compiles this file with each.
import WrenCore

/// A fuzz input is one mode byte, then a `.wren` file. The mode byte chooses repairs: without them
/// almost every mutation would stop at the checksum (or the file-length field), and the validator
/// behind them would go unfuzzed.
enum ModelFuzzInput {
    static let repairFileLength: UInt8 = 1
    static let repairChecksum: UInt8 = 2

    /// The file of an input, repaired as its mode byte asks; nil for an empty input.
    static func fileBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8]? {
        guard let data, size >= 1 else { return nil }
        let mode = data[0]
        var bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
        let length = WrenFormat.Header.Field.fileLength.rawValue
        if mode & repairFileLength != 0, bytes.count >= length + 8 {
            for i in 0..<8 { bytes[length + i] = UInt8(truncatingIfNeeded: UInt64(bytes.count) >> (8 * UInt64(i))) }
        }
        let checksumOffset = WrenFormat.Header.Field.checksum.rawValue
        if mode & repairChecksum != 0, bytes.count >= checksumOffset + 4 {
            let checksum = bytes.withUnsafeBytes { CRC32.wrenChecksum($0) }
            for i in 0..<4 { bytes[checksumOffset + i] = UInt8(truncatingIfNeeded: checksum >> (8 * UInt32(i))) }
        }
        return bytes
    }
}
