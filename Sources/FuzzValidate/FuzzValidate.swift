// libFuzzer target `validate`: bytes → WrenModel → `Validator.validate` against the float WRN-10-1
// of fixtures/models/wrn10_1_c10.pth on two images (ordinary, and 1e20 everywhere) → the report as
// `wren validate` prints and writes it (text table, JSON, SVG chart) → `wren run`'s per-input lines.
// Not part of Package.swift: tools/fuzz.sh compiles it with swiftc and -sanitize=fuzzer,address.
// Run it from the repository root (fuzz.sh does): the reference is read once, in LLVMFuzzerInitialize,
// which also writes the 8x8 seed mutations start from (the wren-model seeds are 32x32 and too slow).
//
// Input: one mode byte (bit 0 repairs the file-length field, bit 1 the checksum, as for `wren-model`,
// whose seeds it shares), then the file. Any thrown error is a correct answer (a model of another
// shape, non-finite logits named by NonFiniteTrace, an arena over the limit); a crash, trap, ASan
// report or timeout is a finding — in particular a report that cannot format what a hostile scale
// made of the numbers.
import Glibc
import WrenCore
import WrenNetwork
@testable import WrenConvert

private let referencePath = "fixtures/models/wrn10_1_c10.pth"
private let referenceCheckpoint: Checkpoint = {
    do {
        return try CheckpointLoader.load(path: referencePath)
    } catch {
        fatalError("fuzz-validate needs \(referencePath) (run from the repository root): \(error)")
    }
}()
private let reference = try! WideResNet(stateDict: referenceCheckpoint.tensors)

/// Reads the reference before the first (timed) input, which in a debug ASan build takes seconds,
/// and writes the seed mutations start from into the corpus folder fuzz.sh names
/// ($WREN_FUZZ_CORPUS): the reference converted for 8x8 inputs, as the convert target converts.
/// At 32x32 the portable kernels of a debug ASan build need seconds per image; at 8x8 an input
/// runs in a fraction of the timeout and still reaches every layer and the report.
@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32 {
    _ = reference.architecture
    guard let folder = getenv("WREN_FUZZ_CORPUS").map({ String(cString: $0) }) else { return 0 }
    let seedPath = folder + "/reference-8x8"
    guard access(seedPath, F_OK) != 0 else { return 0 }
    let calibration: [Float] = (0..<(2 * 3 * 8 * 8)).map { (index: Int) -> Float in Float((index * 37) % 41) / 10 - 2 }
    guard let converted = try? Converter.convert(
        checkpoint: referenceCheckpoint, calibration: calibration, count: 2, height: 8, width: 8, options: ConversionOptions()),
          let file = fopen(seedPath, "wb") else { fatalError("could not write the 8x8 seed to \(seedPath)") }
    let seed: [UInt8] = [0] + converted.bytes
    _ = seed.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)
    return 0
}

/// Keeps each input within libFuzzer's timeout: the float reference and the int8 model both run.
private let maxMultiplyAccumulates = 2_000_000
private let maxArenaBytes = 64 << 20


@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzValidate(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let bytes = ModelFuzzInput.fileBytes(data, size) else { return 0 }
    guard let model = try? WrenModel(bytes: bytes) else { return 0 }
    let description = model.description
    let input = description.input
    guard input.channels == 3, input.height <= 64, input.width <= 64,
          description.multiplyAccumulates <= maxMultiplyAccumulates else { return 0 }

    let perImage = 3 * input.height * input.width
    let ordinary = (0..<perImage).map { Float(($0 &* 7919) % 509) / 128 - 2 }
    let huge = [Float](repeating: 1e20, count: perImage)
    let inputs = Validator.Inputs(
        values: ordinary + huge, count: 2, names: ["ordinary", "huge"], labels: description.numClasses > 1 ? [0, 1] : nil)
    // `wren run`'s lines for the int8 logits, whatever they hold (NaN and 1e38 included).
    let classes = description.numClasses
    guard let context = try? WrenContext(model: model, maxBatch: 2, arenaLimit: maxArenaBytes),
          let logits = try? context.run(inputs.values, batch: 2) else { return 0 }
    for ranked in Predictions.ranked(logits, classes: classes, top: 3) {
        precondition(!Predictions.line(ranked, label: { description.labels?[$0] ?? "\($0)" }).isEmpty, "an empty prediction line")
    }
    precondition(Predictions.argmaxRows(logits, classes: classes).count == 2, "not one prediction per image")

    let report: ValidationReport
    do {
        report = try Validator.validate(
            model: model, reference: reference, inputs: inputs, modelFile: "fuzz.wren", referenceFile: "wrn10_1_c10.pth",
            chunk: 2, arenaLimit: maxArenaBytes)
    } catch {
        return 0
    }
    for layers in [nil, 1] as [Int?] { precondition(!report.table(layerLimit: layers).isEmpty, "an empty table") }
    precondition(((try? report.jsonBytes()) ?? []).count > 2, "the report did not encode as JSON")
    precondition(report.svgChart().contains("<svg"), "the chart is not SVG")
    return 0
}
