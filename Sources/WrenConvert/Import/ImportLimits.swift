/// How much a checkpoint may make an importer hold, so that a small hostile file cannot cost
/// gigabytes (a deflated pickle flood, a memo flood, storages that inflate 1000:1, a JSON header of
/// millions of values). Each limit is checked before the memory it guards is allocated, and a file
/// that breaks one is refused with `ImportError.limitExceeded` (or `SafetensorsError.limitExceeded`)
/// naming the limit.
///
/// The defaults admit every WRN checkpoint with a wide margin (WRN-28-10 is 146 MB and its
/// `data.pkl` needs about 10,000 values); raise a limit only for a file you trust.
public struct ImportLimits: Sendable, Equatable {
    /// The largest checkpoint file read at all, checked before reading.
    public var maxFileBytes: Int
    /// A zip checkpoint's entries that are read (`data.pkl` and the storages of the state dict)
    /// may inflate to at most this many times the file's size, in total. `torch.save` stores its
    /// entries uncompressed (1x); float weights deflate by about 1.1x, zeros by 1000x.
    public var maxInflationRatio: Int
    /// Values a parser may hold at once: the unpickler's containers, scalars, references between
    /// them, stack and memo slots, or the values of a safetensors JSON header. A torch state dict
    /// needs about 60 per tensor, a safetensors header about 10.
    public var maxParsedValues: Int

    public init(maxFileBytes: Int = 2 << 30, maxInflationRatio: Int = 8, maxParsedValues: Int = 1 << 20) {
        self.maxFileBytes = maxFileBytes
        self.maxInflationRatio = maxInflationRatio
        self.maxParsedValues = maxParsedValues
    }

    public static let `default` = ImportLimits()

    /// The names of the limits, as errors print them.
    public enum Name: String, Sendable, Equatable {
        case maxFileBytes, maxInflationRatio, maxParsedValues

        /// The `wren` option that raises it (in MiB for the file size).
        public var commandLineOption: String {
            switch self {
            case .maxFileBytes: return "--max-checkpoint-mb"
            case .maxInflationRatio: return "--max-inflation"
            case .maxParsedValues: return "--max-parsed-values"
            }
        }
    }

    public func value(of name: Name) -> Int {
        switch name {
        case .maxFileBytes: return maxFileBytes
        case .maxInflationRatio: return maxInflationRatio
        case .maxParsedValues: return maxParsedValues
        }
    }

    /// The sentence every limit error ends with: which limit, its value, and how to raise it.
    static func advice(_ name: Name, _ value: Int) -> String {
        "the limit is ImportLimits.\(name.rawValue) = \(value) (wren: \(name.commandLineOption)); raise it only for a file you trust"
    }
}
