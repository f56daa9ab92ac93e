// libFuzzer target `checkpoint`: bytes → TorchCheckpoint.floatTensors, the whole `.pth` importer
// (zip directory, entry names and sizes, data.pkl, storages, tensor views) minus file IO. Not part of
// Package.swift: tools/fuzz.sh compiles it with swiftc and -sanitize=fuzzer,address.
//
// Any ImportError is a correct answer; a crash, trap, ASan report, timeout or memory blow-up is a
// finding.
import Foundation
@testable import WrenConvert

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Data(bytes: $0, count: size) } ?? Data()
    _ = try? TorchCheckpoint.floatTensors(zipData: bytes, fileName: "fuzz.pth")
    return 0
}
