// libFuzzer target `checkpoint`: bytes → TorchCheckpoint.floatTensors, the whole `.pth` importer
// (zip directory, entry names and sizes, data.pkl, storages, tensor views) minus file IO. Not part of
// Package.swift: tools/fuzz.sh compiles it with swiftc and -sanitize=fuzzer,address.
//
// Any ImportError is a correct answer; a crash, trap, ASan report, timeout or memory blow-up is a
// finding. Inputs are not filtered: ZipDirectoryCheck must refuse every zip that would make
// ZIPFoundation trap (HostileImportTests and fixtures/hostile/zip_*.pth hold the ones found so far).
import Foundation
@testable import WrenConvert

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = try? TorchCheckpoint.floatTensors(zipData: Data(bytes), fileName: "fuzz.pth")
    return 0
}
