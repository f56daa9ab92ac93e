// libFuzzer target `convert`: bytes → the importer `wren convert` would choose (torch zip, Paddle
// pickle, safetensors) → WideResNet → calibration on two tiny 8x8 images → quantize → write → the
// int8 bias-correction pass. Not part of Package.swift: tools/fuzz.sh compiles it with swiftc and
// -sanitize=fuzzer,address. Seeds (fixtures/fuzz-corpus/convert/) are small WRN-10-1 checkpoints,
// so mutations start from files that reach calibration.
//
// Any ImportError, SafetensorsError, NetworkError or ConvertError is a correct answer; a crash,
// trap, ASan report, timeout or memory blow-up is a finding. The peak RSS of each input is also
// checked against its size (libFuzzer's -rss_limit_mb only sees totals, and its -max_len keeps
// inputs so small that a 40x amplification never reaches it): an input that makes the process grow
// by more than `allowedGrowth(size)` traps, naming both numbers.
import Glibc
@testable import WrenConvert

/// What a legitimate input may cost: the importers hold a few copies of the file and the float
/// weights (4 bytes per bf16 / f16 element, so 2x); the floor covers the network's activations,
/// the .wren bytes and the int8 context.
func allowedGrowth(_ size: Int) -> Int { 48 << 20 + 16 * size }

/// The process's resident-set figures from /proc/self/status, in bytes (nil if unreadable).
func residentBytes(_ field: String) -> Int? {
    guard let file = fopen("/proc/self/status", "r") else { return nil }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), file) != nil {
        let text = String(cString: line)
        guard text.hasPrefix(field + ":") else { continue }
        let digits = text.dropFirst(field.count + 1).filter(\.isNumber)
        return Int(digits).map { $0 * 1024 }
    }
    return nil
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so each input's peak is its own.
func resetPeakResident() {
    guard let file = fopen("/proc/self/clear_refs", "w") else { return }
    fputs("5", file)
    fclose(file)
}

/// Two fixed 8x8 calibration images (normalized values in [-2, 2]).
let calibrationImages: [Float] = (0..<(2 * 3 * 8 * 8)).map { Float(($0 * 37) % 41) / 10 - 2 }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConvert(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    resetPeakResident()
    let before = residentBytes("VmRSS")
    defer {
        if let before, let peak = residentBytes("VmHWM"), peak - before > allowedGrowth(size) {
            fatalError("a \(size)-byte input grew the process by \(peak - before) bytes (allowed \(allowedGrowth(size)))")
        }
    }
    guard let (tensors, _) = try? CheckpointLoader.tensors(bytes, fileName: "fuzz.checkpoint") else { return 0 }
    let checkpoint = Checkpoint(tensors: tensors, sha256: "", sourceName: "fuzz.checkpoint")
    var options = ConversionOptions()
    // The last byte picks the calibration method, so the histogram searches run too.
    let methods: [CalibrationMethod] = [.minMax, .percentile(99.9), .entropy, .mse]
    options.calibrationMethod = methods[Int(bytes.last ?? 0) % methods.count]
    _ = try? Converter.convert(checkpoint: checkpoint, calibration: calibrationImages, count: 2, height: 8, width: 8, options: options)
    return 0
}
