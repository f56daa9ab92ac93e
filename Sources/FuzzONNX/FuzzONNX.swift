// libFuzzer target `onnx`: bytes → ONNXImporter.stateDict, the whole ONNX importer (swift-protobuf
// decoding with the depth limit, tensor checks, external data confinement, topology matching, the
// WrenNetwork description's checks). External data is looked up in fixtures/onnx/ (tools/fuzz.sh
// runs from the repository root), so mutated locations, offsets and lengths reach real files. Not
// part of Package.swift: tools/fuzz.sh compiles it with swiftc and -sanitize=fuzzer,address.
//
// Any ONNXImportError is a correct answer; a crash, trap, ASan report, timeout or memory blow-up is
// a finding. Small limits keep each input cheap (a 2 MB tensor cap, as no seed needs more).
import WrenONNX

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = ONNXImporter.looksLikeONNX(bytes)  // CheckpointLoader's detection walks every input too
    _ = try? ONNXImporter.stateDict(bytes: bytes, fileName: "fuzz.onnx", directory: "fixtures/onnx",
                                    limits: ONNXLimits(maxBytes: 2 << 20, maxValues: 1 << 16))
    return 0
}
