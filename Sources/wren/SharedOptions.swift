import ArgumentParser
import WrenConvert
import WrenCore
import WrenHost

/// How `run`, `validate` and `bench` execute a .wren model: threads, kernels and the arena cap.
/// One group, so the three commands spell and check them alike and all default to the fastest
/// kernels this CPU has on every processor.
struct ExecutionOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Threads (default: the machine's processors).")
    var threads: Int?

    @Option(help: "Kernels: auto (fastest this CPU supports), avx512vnni, avx2, neondot, portable, reference, or a full kernel name; an unavailable one is an error that lists what this CPU offers. (default: $WREN_KERNELS, else auto)")
    var kernels: String?

    @Option(name: .customLong("max-arena-mb"), parsing: .unconditional,
            help: "The most memory, in MiB, a model's activation arena may take; a model that needs more is refused, saying how much it needs (default: \(WrenContext.defaultArenaLimit >> 20)).")
    var maxArenaMB: Int?

    func validate() throws {
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be in 1...256") }
        if let maxArenaMB, maxArenaMB < 1 || maxArenaMB > 1 << 24 { throw ValidationError("--max-arena-mb must be in 1...\(1 << 24)") }
    }

    var threadCount: Int { threads ?? ThreadPool.processorCount }
    var arenaLimit: Int { maxArenaMB.map { $0 << 20 } ?? WrenContext.defaultArenaLimit }
    func kernelTable() throws -> KernelTable { try KernelSelection.selectedKernels(kernels) }
}

/// The caps that keep a hostile checkpoint from costing gigabytes (`ImportLimits`), for every
/// command that reads one. The defaults admit every WRN with a wide margin; an error that hits a
/// cap names the option that raises it.
struct ImportLimitOptions: ParsableArguments {
    @Option(name: .customLong("max-checkpoint-mb"), parsing: .unconditional,
            help: "The largest checkpoint file read at all, in MiB (default: \(ImportLimits.default.maxFileBytes >> 20)).")
    var maxCheckpointMB: Int?

    @Option(name: .customLong("max-inflation"), parsing: .unconditional,
            help: "How many times its own size a zip checkpoint's entries may inflate to, in total (default: \(ImportLimits.default.maxInflationRatio)).")
    var maxInflation: Int?

    @Option(name: .customLong("max-parsed-values"), parsing: .unconditional,
            help: "Values a checkpoint's pickle or JSON header may make the parser hold at once (default: \(ImportLimits.default.maxParsedValues)).")
    var maxParsedValues: Int?

    func validate() throws {
        if let maxCheckpointMB, maxCheckpointMB < 1 || maxCheckpointMB > 1 << 24 {
            throw ValidationError("--max-checkpoint-mb must be in 1...\(1 << 24)")
        }
        if let maxInflation, maxInflation < 1 || maxInflation > 1 << 20 { throw ValidationError("--max-inflation must be in 1...\(1 << 20)") }
        if let maxParsedValues, maxParsedValues < 16 || maxParsedValues > 1 << 32 {
            throw ValidationError("--max-parsed-values must be in 16...\(1 << 32)")
        }
    }

    var limits: ImportLimits {
        var limits = ImportLimits.default
        if let maxCheckpointMB { limits.maxFileBytes = maxCheckpointMB << 20 }
        if let maxInflation { limits.maxInflationRatio = maxInflation }
        if let maxParsedValues { limits.maxParsedValues = maxParsedValues }
        return limits
    }
}

extension ExecutionOptions {
    /// `body`, with an arena the cap refused reported together with the option that allows it.
    func namingTheArenaOption<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as WrenError {
            guard case .arenaTooLarge(let bytes, _, _) = error, bytes != Int.max else { throw error }
            throw CLIError("\(error); --max-arena-mb \((bytes + (1 << 20) - 1) >> 20) allows it")
        }
    }
}

/// A model's input size as options and metadata spell it: "64" (square) or "96x72" (height x
/// width). A WRN's stages have strides 1, 2, 2, so both sides must be multiples of 4 for each stage
/// to halve its input exactly (an odd side would lose a row to the stride-2 convolutions' padding).
struct InputSize: Equatable, CustomStringConvertible {
    var height: Int
    var width: Int

    static let standard = InputSize(height: 32, width: 32)
    static let largest = 4096

    init(height: Int, width: Int) {
        self.height = height
        self.width = width
    }

    init(parsing text: String, option: String) throws {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Int($0.trimmingWhitespace()) }
        guard (1...2).contains(parts.count), let height = parts[0], let width = parts.count == 2 ? parts[1] : parts[0] else {
            throw ValidationError("\(option) takes H or HxW in pixels, e.g. 64 or 96x72 (got '\(text)')")
        }
        guard (4...Self.largest).contains(height), (4...Self.largest).contains(width), height % 4 == 0, width % 4 == 0 else {
            throw ValidationError("\(option) \(text): each side must be a multiple of 4 from 4 to \(Self.largest), so that the "
                                  + "WRN's stages (strides 1, 2, 2) divide it evenly")
        }
        self.init(height: height, width: width)
    }

    var isSquare: Bool { height == width }
    var description: String { isSquare ? "\(height)" : "\(height)x\(width)" }
}

extension InputSize {
    /// The size `wren train` recorded in a checkpoint's metadata, if it is one Wren can use.
    static func stored(in metadata: [String: String]) -> InputSize? {
        metadata[TrainingMetadata.inputSize].flatMap { try? InputSize(parsing: $0, option: TrainingMetadata.inputSize) }
    }
}
