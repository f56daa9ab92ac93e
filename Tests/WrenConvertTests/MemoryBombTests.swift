import Foundation
import Testing
@testable import WrenConvert

// Checkpoints that are small (or cheap to write) but made the importers allocate gigabytes before
// `ImportLimits` (issue 15, item 6): each limit in-process with a small override, then every bomb
// through `wren convert` in a child process whose address space is capped at 1 GiB, where the
// unbounded importers died ("failed to allocate", SIGABRT) or crawled past the timeout. The
// fixtures/hostile/bomb_*.pth files are written by tools/make_hostile_fixtures.py; the larger
// uncompressed bombs are written here, into a temporary folder.

/// Pickle opcodes the bombs repeat (byte values from CPython's `pickle.py`).
private enum Op {
    static let proto: UInt8 = 0x80, stop: UInt8 = 0x2E, none: UInt8 = 0x4E, emptyList: UInt8 = 0x5D
    static let dup: UInt8 = 0x32, memoize: UInt8 = 0x94, binPut: UInt8 = 0x71, binGet: UInt8 = 0x68, append: UInt8 = 0x61
    static let pop: UInt8 = 0x30
}

/// PROTO `version`, `body`, STOP.
private func pickle(_ body: [UInt8], version: UInt8 = 4) -> [UInt8] { [Op.proto, version] + body + [Op.stop] }

/// `wren convert CHECKPOINT` in a child process whose address space is capped (`ulimit -v`) and
/// whose run time is bounded (`timeout`), so a bomb that is not defused fails the test instead of
/// taking the test runner (or the machine) down with it.
enum MemoryLimitedConvert {
    struct Outcome {
        /// `wren`'s exit status: 1 for a refusal; `timeout` gives 124 and 128 + signal otherwise.
        var status: Int32
        var stderr: String
    }

    /// 1 GiB: `wren convert` needs about 300 MB of address space for itself (libraries, thread
    /// stacks, malloc arenas); the bombs asked for 1.4 to 3.4 GB.
    static let addressSpaceKilobytes = 1 << 20
    static let timeoutSeconds = 60

    /// The `wren` built beside the test bundle (same configuration), else under `.build/`.
    static let wrenPath: String? = {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
        if let first = CommandLine.arguments.first { candidates.append(URL(fileURLWithPath: first).deletingLastPathComponent()) }
        for configuration in ["release", "debug"] {
            candidates.append(ImportFixtures.repoRoot.appendingPathComponent(".build").appendingPathComponent(configuration))
        }
        return candidates.map { $0.appendingPathComponent("wren").path }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static func run(_ checkpoint: String) throws -> Outcome {
        let wren = try #require(wrenPath, "the built `wren` executable was not found beside the test bundle or under .build/")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("wren-bomb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let errors = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: errors)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [
            "-c", "ulimit -v \(addressSpaceKilobytes) && exec timeout -s KILL \(timeoutSeconds) \"$0\" convert \"$1\" -o \"$2\"",
            wren, checkpoint, scratch.appendingPathComponent("out.wren").path,
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"  // a crash report would only slow the failure down
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errorHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try errorHandle.close()
        return Outcome(status: process.terminationStatus, stderr: String(decoding: try Data(contentsOf: errors), as: UTF8.self))
    }

    /// Expects `wren convert` to refuse `checkpoint` with exit status 1 and a message naming `limit`.
    static func expectRefused(_ checkpoint: String, naming limit: ImportLimits.Name, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outcome = try run(checkpoint)
        #expect(outcome.status == 1, "exit status \(outcome.status) (124: timed out; 128+n: signal n): \(outcome.stderr.suffix(600))",
                sourceLocation: sourceLocation)
        #expect(outcome.stderr.contains("ImportLimits.\(limit.rawValue)"), "stderr: \(outcome.stderr.suffix(600))", sourceLocation: sourceLocation)
    }
}

/// A fresh file of `bytes` under the temporary directory (the uncompressed bombs are tens of MB:
/// too large to commit, cheap to write).
private func bombFile(_ name: String, _ bytes: [UInt8]) throws -> String {
    try ImportFixtures.temporaryFile(named: name, bytes: bytes)
}

private func hostile(_ name: String) -> String { ImportFixtures.hostile.appendingPathComponent(name).path }

@Suite struct MemoryBombTests {
    // MARK: Each limit, in-process

    /// Every one-byte opcode that used to add a value without bound stops at `maxValues`.
    @Test(arguments: ["NONE", "DUP", "MEMOIZE", "BINGET+APPEND"])
    func theUnpicklerHoldsAtMostMaxValues(flood: String) throws {
        let repeats = 10_000
        let body: [UInt8]
        switch flood {
        case "NONE": body = [UInt8](repeating: Op.none, count: repeats)
        case "DUP": body = [Op.none] + [UInt8](repeating: Op.dup, count: repeats)
        case "MEMOIZE": body = [Op.none] + [UInt8](repeating: Op.memoize, count: repeats)
        default:  // one list, then a memoized None appended to it over and over
            body = [Op.emptyList, Op.none, Op.binPut, 0, Op.pop] + (0..<repeats).flatMap { _ in [Op.binGet, 0, Op.append] }
        }
        #expect(throws: ImportError.self, "\(flood)") { try Unpickler.parse(pickle(body), maxValues: 1000) }
        do {
            _ = try Unpickler.parse(pickle(body), maxValues: 1000)
        } catch {
            guard case .pickleTooManyValues(limit: 1000, let offset) = error else {
                Issue.record("\(flood): expected pickleTooManyValues, got \(error)")
                return
            }
            #expect(offset < 4000, "\(flood): stopped only at offset \(offset)")
            #expect(error.description.contains("ImportLimits.maxParsedValues = 1000"), "\(error)")
        }
    }

    @Test func realCheckpointsStayFarBelowTheDefaultLimits() throws {
        // The largest fixture of each importer loads with limits a hundred times tighter than the
        // defaults on values, and inflates nothing (stored entries).
        var tight = ImportLimits()
        tight.maxParsedValues = ImportLimits.default.maxParsedValues / 100
        tight.maxInflationRatio = 1
        for path in [ImportFixtures.folder("digits").path("wrn16_2_digits.pth"),
                     ImportFixtures.folder("paddle").path("wrn10_8_c10_fp16.pdparams"),
                     ImportFixtures.folder("safetensors").path("wrn16_2_c10.safetensors")] {
            #expect(throws: Never.self, "\(path)") { _ = try CheckpointLoader.load(path: path, limits: tight) }
        }
    }

    @Test func aFileLargerThanMaxFileBytesIsNotRead() throws {
        var limits = ImportLimits()
        limits.maxFileBytes = 900
        do {
            _ = try CheckpointLoader.load(path: hostile("zip_control.pth"), limits: limits)
            Issue.record("a 938-byte file passed a 900-byte limit")
        } catch let error as ImportError {
            #expect(error == .limitExceeded(file: "zip_control.pth", limit: .maxFileBytes, value: 900, found: "the file is 938 bytes"))
            #expect(error.description.contains("ImportLimits.maxFileBytes = 900"))
        }
        limits.maxFileBytes = 938
        #expect(try CheckpointLoader.load(path: hostile("zip_control.pth"), limits: limits).tensors["w"] != nil)
    }

    @Test func inflationPastTheRatioIsRefusedBeforeInflating() throws {
        // 1 GiB of deflated zeros in a 1 MB file: refused at the first storage's declared size.
        do {
            _ = try CheckpointLoader.load(path: hostile("bomb_storage_inflation.pth"))
            Issue.record("bomb_storage_inflation.pth was imported")
        } catch let error as ImportError {
            guard case .limitExceeded(file: "bomb_storage_inflation.pth", limit: .maxInflationRatio, value: 8, let found) = error else {
                Issue.record("expected limitExceeded(maxInflationRatio), got \(error)")
                return
            }
            #expect(found.contains("archive/data/0"), "\(found)")
        }
        // The 64 KB pickle floods inflate to 64 MiB: refused at data.pkl.
        for name in ["bomb_pickle_flood.pth", "bomb_memoize_flood.pth"] {
            #expect(throws: ImportError.self) { _ = try CheckpointLoader.load(path: hostile(name)) }
            do {
                _ = try CheckpointLoader.load(path: hostile(name))
            } catch let error as ImportError {
                guard case .limitExceeded(_, limit: .maxInflationRatio, _, let found) = error, found.contains("archive/data.pkl") else {
                    Issue.record("\(name): expected limitExceeded(maxInflationRatio) at data.pkl, got \(error)")
                    continue
                }
            }
        }
    }

    @Test func aSafetensorsHeaderOfTooManyValuesIsRefused() throws {
        let header = #"{"a":{"dtype":"F32","shape":["# + Array(repeating: "0", count: 2000).joined(separator: ",") + #"],"data_offsets":[0,0]}}"#
        let bytes = SafetensorsImportTests.file(header: header, data: [])
        var limits = ImportLimits()
        limits.maxParsedValues = 1000
        do {
            _ = try SafetensorsCheckpoint.floatTensors(bytes, fileName: "shape.safetensors", limits: limits)
            Issue.record("a header of 2000 values passed a limit of 1000")
        } catch {
            guard case .limitExceeded(file: "shape.safetensors", limit: .maxParsedValues, value: 1000, _) = error else {
                Issue.record("expected limitExceeded(maxParsedValues), got \(error)")
                return
            }
            #expect(error.description.contains("ImportLimits.maxParsedValues = 1000"), "\(error)")
        }
        // Within the limit, the same file is an empty tensor of 2000 dimensions.
        limits.maxParsedValues = 3000
        #expect(try SafetensorsCheckpoint.floatTensors(bytes, fileName: "shape.safetensors", limits: limits)["a"]?.data == [])
    }

    // MARK: Every bomb, through `wren convert` under a 1 GiB address space

    /// 64 MiB of NONE deflated into a 64 KB .pth: took 2.65 GB and 23 s.
    @Test func pickleFloodPth() throws {
        try MemoryLimitedConvert.expectRefused(hostile("bomb_pickle_flood.pth"), naming: .maxInflationRatio)
    }

    /// 64 MiB of MEMOIZE deflated into a 64 KB .pth: took 3.4 GB and 100 s.
    @Test func memoizeFloodPth() throws {
        try MemoryLimitedConvert.expectRefused(hostile("bomb_memoize_flood.pth"), naming: .maxInflationRatio)
    }

    /// Two 512 MiB storages of zeros in a 1 MB .pth: took 2.2 GB.
    @Test func storageInflationPth() throws {
        try MemoryLimitedConvert.expectRefused(hostile("bomb_storage_inflation.pth"), naming: .maxInflationRatio)
    }

    /// A bare 32 MiB pickle of NONE, read as .pdparams: took 1.4 GB (44 bytes per byte).
    @Test func pickleFloodPdparams() throws {
        let path = try bombFile("flood.pdparams", pickle([UInt8](repeating: Op.none, count: 32 << 20), version: 2))
        try MemoryLimitedConvert.expectRefused(path, naming: .maxParsedValues)
    }

    /// A bare 32 MiB pickle of MEMOIZE: took 1.7 GB (52 bytes per byte).
    @Test func memoizeFloodPdparams() throws {
        let path = try bombFile("memoize.pdparams", pickle([Op.none] + [UInt8](repeating: Op.memoize, count: 32 << 20)))
        try MemoryLimitedConvert.expectRefused(path, naming: .maxParsedValues)
    }

    /// A safetensors header of 25 Mi shape entries (50 MB): took 1.7 GB (33 bytes per byte) and 21 s.
    @Test func shapeFloodSafetensors() throws {
        var header = Array(#"{"a":{"dtype":"F32","shape":["#.utf8)
        header += [UInt8](repeating: 0, count: 2 * (25 << 20) - 1)
        for index in stride(from: 29, to: header.count, by: 2) { header[index] = UInt8(ascii: "0") }
        for index in stride(from: 30, to: header.count, by: 2) { header[index] = UInt8(ascii: ",") }
        header += Array(#"],"data_offsets":[0,0]}}"#.utf8)
        let length = UInt64(header.count)
        let path = try bombFile("shape.safetensors", (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + header)
        try MemoryLimitedConvert.expectRefused(path, naming: .maxParsedValues)
    }

    /// A 3 GiB (sparse) .pdparams: bare pickles had no size cap and were read whole.
    @Test func oversizedPdparams() throws {
        let path = try bombFile("huge.pdparams", [Op.proto, 2])
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 3 << 30)
        try handle.close()
        try MemoryLimitedConvert.expectRefused(path, naming: .maxFileBytes)
    }
}
