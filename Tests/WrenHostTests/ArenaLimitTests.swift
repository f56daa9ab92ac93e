import Testing
@testable import WrenConvert
import WrenCore
import WrenHost

/// A context never allocates more arena than its limit (1 GiB unless told otherwise), and failing
/// to allocate is an error, not a trap: a small file can declare tensors that need terabytes.
@Suite struct ArenaLimitTests {
    /// A model of a few kilobytes (all its constants zero) whose activations at `side`x`side` are
    /// 4 channels each, five of them alive at once: the stem, three channel affines, then three
    /// residual convolutions reading the stem and the first two affines' outputs, a stride-4
    /// convolution and the classifier. At side 8192 each activation is 256 MiB.
    static func manyLiveActivations(side: Int) throws -> WrenModel {
        let channels = 4, classes = 2
        var tensors = [TensorInfo(name: "input", channels: 3, height: side, width: side, scale: 0.05, zeroPoint: 0)]
        for index in 1...7 {
            tensors.append(TensorInfo(name: "t\(index)", channels: channels, height: side, width: side, scale: 0.05, zeroPoint: 0))
        }
        tensors.append(TensorInfo(name: "pooled", channels: channels, height: side / 4, width: side / 4, scale: 0.05, zeroPoint: 0))
        func zeros(_ count: Int) -> [UInt8] { [UInt8](repeating: 0, count: count) }
        func layer(_ op: LayerOp, _ input: Int, _ output: Int?, residual: Int? = nil, stride: Int = 1, inChannels: Int = channels) -> QuantizedLayer {
            let blobs: [[UInt8]] = switch op {
            case .conv2d:
                [zeros(PackedConvWeights.byteCount(outChannels: channels, depth: inChannels)), zeros(4 * channels), zeros(4 * channels), zeros(4 * channels), []]
            case .channelAffineReLU: [[], zeros(4 * channels), zeros(4 * channels), zeros(4 * channels), []]
            case .averagePoolLinear: [zeros(4 * classes * channels), zeros(4 * classes), [], [], []]
            }
            return QuantizedLayer(
                name: "layer", op: op, input: input, output: output, residual: residual, kernelSize: 1, stride: stride, padding: 0,
                relu: false, residualMultiplier: QuantizedMultiplier(multiplier: 0, rightShift: 0),
                outChannels: op == .averagePoolLinear ? classes : channels, blobs: blobs)
        }
        let layers = [
            layer(.conv2d, 0, 1, inChannels: 3),
            layer(.channelAffineReLU, 1, 2), layer(.channelAffineReLU, 2, 3), layer(.channelAffineReLU, 3, 4),
            layer(.conv2d, 4, 5, residual: 1), layer(.conv2d, 5, 6, residual: 2), layer(.conv2d, 6, 7, residual: 3),
            layer(.conv2d, 7, 8, stride: 4),
            layer(.averagePoolLinear, 8, nil),
        ]
        let quantized = QuantizedModel(
            input: InputInfo(channels: 3, height: side, width: side, mean: [0, 0, 0], std: [1, 1, 1], tensor: 0),
            numClasses: classes, metadata: [], tensors: tensors, layers: layers, roundingRule: WrenFormat.roundingRuleSingleRounding)
        let bytes = ModelWriter.write(quantized)
        #expect(bytes.count < 8192, "the model is meant to be small: \(bytes.count) bytes")
        return try WrenModel(bytes: bytes)
    }

    static let activationBytes = 4 * 8192 * 8192

    @Test func defaultLimitRefusesAHugeArenaBeforeAllocating() throws {
        let model = try Self.manyLiveActivations(side: 8192)
        let needed = try WrenContext.arenaSize(model: model, maxBatch: 1)
        #expect(needed >= 5 * Self.activationBytes && needed > WrenContext.defaultArenaLimit)
        let expected = WrenError.arenaTooLarge(bytes: needed, limit: WrenContext.defaultArenaLimit, maxBatch: 1)
        #expect(throws: expected) { try WrenContext(model: model) }
        #expect(expected.description.contains("needs \(needed) bytes, over the limit of \(1 << 30) bytes"))
    }

    /// With a thread pool, every worker runs its own image in its own slot of the arena: the limit
    /// applies to all the slots together.
    @Test func workerSlotsCountAgainstTheLimit() throws {
        let model = try Self.manyLiveActivations(side: 64)
        let pool = ThreadPool(workers: 4)
        let one = try WrenContext.arenaSize(model: model, maxBatch: 4)
        let four = try WrenContext.arenaSize(model: model, maxBatch: 4, parallelism: pool.parallelism)
        #expect(four > 3 * one)
        _ = try WrenContext(model: model, maxBatch: 4, arenaLimit: one)
        #expect(throws: WrenError.arenaTooLarge(bytes: four, limit: one, maxBatch: 4)) {
            try WrenContext(model: model, maxBatch: 4, parallelism: pool.parallelism, arenaLimit: one)
        }
        #expect(try WrenContext(model: model, maxBatch: 4, parallelism: pool.parallelism, arenaLimit: four).arenaSize == four)
    }

    /// The limit is exact: its own size is allowed (and runs), one byte less is refused.
    @Test func limitOverrideIsExact() throws {
        let model = try Self.manyLiveActivations(side: 64)
        let needed = try WrenContext.arenaSize(model: model, maxBatch: 1)
        #expect(throws: WrenError.arenaTooLarge(bytes: needed, limit: needed - 1, maxBatch: 1)) {
            try WrenContext(model: model, arenaLimit: needed - 1)
        }
        let context = try WrenContext(model: model, arenaLimit: needed)
        #expect(try context.run([Float](repeating: 0.5, count: 3 * 64 * 64), batch: 1) == [0, 0])
    }

    /// Every activation of 65536 images retained is 2^44 bytes per tensor: no system gives that, and
    /// with the limit lifted the refusal is an error rather than Swift's allocation trap.
    @Test func memoryTheSystemRefusesIsAnError() throws {
        let model = try Self.manyLiveActivations(side: 8192)
        let needed = try WrenContext.arenaSize(model: model, maxBatch: 1 << 16, retainActivations: true)
        #expect(throws: WrenError.outOfMemory(bytes: needed)) {
            try WrenContext(model: model, maxBatch: 1 << 16, retainActivations: true, arenaLimit: .max)
        }
    }
}
