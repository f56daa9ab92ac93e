// libFuzzer target `unpickler`: bytes → Unpickler.parse → (if it is a dict) the state-dict search and
// the tensor-reference parser the checkpoint importer runs on it. Not part of Package.swift:
// tools/fuzz.sh compiles it with swiftc and -sanitize=fuzzer,address.
//
// Any ImportError is a correct answer; a crash, trap, ASan report, timeout or memory blow-up is a
// finding.
@testable import WrenConvert

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUnpickler(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let root = try? Unpickler.parse(bytes) else { return 0 }
    _ = root.summary
    guard let entries = try? TorchCheckpoint.findStateDict(root, fileName: "fuzz.pkl") else { return 0 }
    for entry in entries {
        guard case .string(let key) = entry.key,
              let reference = try? TorchTensorReference.parse(entry.value, key: key) else { continue }
        _ = try? reference.lastStorageIndex(key: key)
    }
    return 0
}
