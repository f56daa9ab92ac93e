import WrenNetwork
#if canImport(Glibc)
import Glibc
#endif

/// Where a training network's numbers come from and go: the reference implementation's
/// initialization, a checkpoint any importer read, and a state dict to save.
extension TrainingNetwork {
    /// The initialization of the widely used WRN code (tools/wrn_torch.py): conv weights
    /// N(0, sqrt(2 / (k·k·out_channels))), conv biases 0, BN γ = 1, β = 0, running mean 0 and
    /// variance 1, the classifier's weight as `nn.Linear` draws it (U(−1/√in, 1/√in)) and its bias 0.
    /// Reproducible from `seed`; not PyTorch's generator, so not PyTorch's numbers.
    public func initialize(seed: UInt64) {
        var random = ParameterGenerator(seed: seed)
        for tensor in tensors {
            let shape = tensor.entry.shape
            switch tensor.storage {
            case .parameter(let value, _):
                switch tensor.entry.role {
                case .convWeight:
                    let deviation = (2.0 / Double(shape[2] * shape[3] * shape[0])).squareRoot()
                    for i in 0..<value.count { value.values[i] = Float(random.normal() * deviation) }
                case .linearWeight:
                    let bound = 1 / Double(shape[1]).squareRoot()
                    for i in 0..<value.count { value.values[i] = Float((2 * random.uniform() - 1) * bound) }
                case .batchNormWeight:
                    value.values.update(repeating: 1)
                default:
                    value.values.update(repeating: 0)
                }
            case .statistic(let buffer):
                buffer.values.update(repeating: tensor.entry.role == .runningVariance ? 1 : 0)
            case .batchesTracked(let norm):
                norm.numBatchesTracked = 0
            }
        }
    }

    /// Takes every tensor from a state dict with PyTorch's key names (as `CheckpointLoader` returns
    /// it, or `init(stateDict:)` of `WideResNet` accepts it). The checkpoint must be this network's
    /// architecture: each key present with its exact shape and finite values. `num_batches_tracked`
    /// is optional (0 when absent), since eval-only exports drop it.
    public func load(_ stateDict: [String: FloatTensor]) throws(TrainingError) {
        for tensor in tensors {
            let key = tensor.entry.key
            if case .batchesTracked(let norm) = tensor.storage {
                let count = stateDict[key]?.data.first ?? 0
                guard count.isFinite, count >= 0, count < 0x1p53 else {
                    throw .invalidData("'\(key)' is \(count), not a count of batches")
                }
                norm.numBatchesTracked = Int(count)
                continue
            }
            guard let source = stateDict[key] else {
                throw .invalidData("the checkpoint has no '\(key)', which \(architecture) needs")
            }
            guard source.shape == tensor.entry.shape else {
                throw .invalidData("'\(key)' has shape \(source.shape), \(architecture) needs \(tensor.entry.shape)")
            }
            if let bad = source.data.firstIndex(where: { !$0.isFinite }) {
                throw .invalidData("'\(key)' holds \(source.data[bad]) at index \(bad)")
            }
            switch tensor.storage {
            case .parameter(let value, _): value.assign(source.data)
            case .statistic(let buffer): buffer.assign(source.data)
            case .batchesTracked: break
            }
        }
    }

    /// The state dict as PyTorch's `WideResNet.state_dict()` lists it: float tensors, and each
    /// batch norm's `num_batches_tracked` as an integer.
    public func stateDict() -> [StateDictValue] {
        tensors.map { tensor in
            switch tensor.storage {
            case .parameter(let value, _): return StateDictValue(entry: tensor.entry, values: .float(value.array))
            case .statistic(let buffer): return StateDictValue(entry: tensor.entry, values: .float(buffer.array))
            case .batchesTracked(let norm): return StateDictValue(entry: tensor.entry, values: .count(norm.numBatchesTracked))
            }
        }
    }

    /// The state dict as float tensors by key, `num_batches_tracked` included as a one-element
    /// tensor: what `WideResNet(stateDict:)` and the converter take.
    public func floatStateDict() -> [String: FloatTensor] {
        var dictionary: [String: FloatTensor] = [:]
        for value in stateDict() {
            switch value.values {
            case .float(let data): dictionary[value.entry.key] = FloatTensor(shape: value.entry.shape, data: data)
            case .count(let count): dictionary[value.entry.key] = FloatTensor(shape: [], data: [Float(count)])
            }
        }
        return dictionary
    }
}

extension TrainingNetwork {
    /// Per block, the dropout draws used so far (all 0 without dropout): with the seed, where
    /// every mask sequence stands, for a resumable checkpoint.
    public var dropoutDraws: [UInt64] {
        get { blocks.map(\.dropout.drawsUsed) }
        set {
            precondition(newValue.count == blocks.count, "dropoutDraws: \(newValue.count) values for \(blocks.count) blocks")
            for (block, draws) in zip(blocks, newValue) { block.dropout.drawsUsed = draws }
        }
    }

    /// Each batch norm's `num_batches_tracked`, in state-dict order.
    public var batchesTracked: [Int] {
        get {
            tensors.compactMap {
                if case .batchesTracked(let norm) = $0.storage { return norm.numBatchesTracked }
                return nil
            }
        }
        set {
            let norms = tensors.compactMap { tensor -> BatchNormReLULayer? in
                if case .batchesTracked(let norm) = tensor.storage { return norm }
                return nil
            }
            precondition(newValue.count == norms.count, "batchesTracked: \(newValue.count) values for \(norms.count) batch norms")
            for (norm, count) in zip(norms, newValue) { norm.numBatchesTracked = count }
        }
    }
}

/// One state-dict entry's contents.
public struct StateDictValue {
    public let entry: WRNStateDictEntry
    public let values: Values

    public enum Values: Equatable {
        case float([Float])
        case count(Int)
    }
}

/// Draws for initialization and shuffling: SplitMix64 (the dropout masks' generator, drawn in
/// sequence) → uniform in [0, 1) → Box–Muller normals.
struct ParameterGenerator {
    private let seed: UInt64
    private var draws: UInt64 = 0
    private var spare: Double?

    init(seed: UInt64) { self.seed = seed }

    /// The generator after `draws` calls of `next()` (a resumed run's shuffler or augmenter).
    init(seed: UInt64, draws: UInt64) {
        self.seed = seed
        self.draws = draws
    }

    /// 64-bit draws taken so far. (`normal()`'s spare is not counted: only initialization, which
    /// is never resumed, draws normals.)
    var drawCount: UInt64 { draws }

    mutating func next() -> UInt64 {
        defer { draws &+= 1 }
        return splitMix64(seed: seed, draw: draws)
    }

    /// 53 random bits in [0, 1).
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    mutating func normal() -> Double {
        if let value = spare { spare = nil; return value }
        let u1 = 1 - uniform(), u2 = uniform()  // u1 in (0, 1]: log stays finite
        let radius = (-2 * log(u1)).squareRoot()
        spare = radius * sin(2 * Double.pi * u2)
        return radius * cos(2 * Double.pi * u2)
    }
}
