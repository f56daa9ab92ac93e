// libFuzzer target `wren-model`: bytes → WrenModel (read + validate) → WrenContext (plan) → run
// one fixed image. Not part of Package.swift: tools/fuzz.sh compiles it with swiftc and
// -sanitize=fuzzer,address against WrenCore built with the same instrumentation.
//
// A crash, an ASan report, a trap or a timeout is a finding: the reader must turn every bad file
// into a WrenError, and every file it accepts must run without touching memory it does not own.
// Input: one mode byte (bit 0 repairs the file-length field, bit 1 the checksum), then the file.
import WrenCore

/// Models the reader accepts but that are too big to run quickly are only loaded and planned:
/// running them would make libFuzzer time out without testing anything new. Larger arenas go
/// through the context's own arena limit, whose refusal must be `arenaTooLarge` and nothing else.
private let maxInputValues = 3 * 128 * 128
private let maxArenaBytes = 64 << 20
private let maxMultiplyAccumulates = 20_000_000


@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWrenModel(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let bytes = ModelFuzzInput.fileBytes(data, size) else { return 0 }
    guard let model = try? WrenModel(bytes: bytes) else { return 0 }
    let context: WrenContext
    do throws(WrenError) {
        context = try WrenContext(model: model, maxBatch: 1, arenaLimit: maxArenaBytes)
    } catch .arenaTooLarge(let bytes, let limit, _) {
        // (`bytes` is Int.max, whatever the limit, when the size does not fit in an Int.)
        precondition(bytes > limit || bytes == Int.max, "an arena of \(bytes) bytes was refused under the limit of \(limit)")
        return 0
    } catch {
        preconditionFailure("a model that loaded got no context: \(error)")
    }
    let input = model.input
    let values = input.channels * input.height * input.width
    guard values <= maxInputValues, model.description.multiplyAccumulates <= maxMultiplyAccumulates else { return 0 }
    // A fixed input covering negative, positive and saturating values.
    let image = (0..<values).map { Float(($0 &* 7919) % 509) / 32 - 8 }
    do {
        let logits = try context.run(image, batch: 1)
        precondition(logits.count == model.numClasses, "run returned \(logits.count) logits for \(model.numClasses) classes")
    } catch {
        preconditionFailure("a model that loaded failed to run a valid input: \(error)")
    }
    return 0
}
