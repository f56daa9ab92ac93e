import Testing
import WrenTestSupport
@testable import WrenCore

/// The arena planner on random layer graphs: tensors alive at the same time never share bytes,
/// `retainActivations` keeps every tensor apart, and the reported size covers everything.
@Suite struct ArenaPlanTests {
    static func tensor(_ name: String, _ channels: Int, _ height: Int, _ width: Int) -> TensorInfo {
        TensorInfo(name: name, channels: channels, height: height, width: width, scale: 0.05, zeroPoint: 0)
    }

    static func layer(_ op: LayerOp, input: Int, output: Int?, residual: Int? = nil, kernel: Int = 1, outChannels: Int) -> LayerInfo {
        LayerInfo(
            op: op, input: input, output: output, residual: residual, kernelSize: kernel, stride: 1, padding: 0,
            relu: false, residualMultiplier: QuantizedMultiplier(multiplier: 0, rightShift: 0), outChannels: outChannels,
            weights: .empty, bias: .empty, multipliers: .empty, shifts: .empty, offsets: .empty)
    }

    static func model(tensors: [TensorInfo], layers: [LayerInfo], classes: Int = 10) -> ModelDescription {
        let input = InputInfo(channels: tensors[0].channels, height: tensors[0].height, width: tensors[0].width,
                              mean: [0, 0, 0], std: [1, 1, 1], tensor: 0)
        return ModelDescription(majorVersion: 1, minorVersion: 0, fileLength: 0, checksum: 0, input: input,
                                numClasses: classes, metadata: [], tensors: tensors, layers: layers)
    }

    /// A graph in the shape of a pre-activation WRN: stem, blocks of affine → conv → conv + residual
    /// (with a shortcut conv when the width or size changes), final affine, classifier.
    static func wideResNetShaped(blocksPerGroup: Int, width: Int) -> ModelDescription {
        var tensors = [tensor("input", 3, 32, 32)]
        var layers: [LayerInfo] = []
        func add(_ op: LayerOp, _ input: Int, _ shape: (Int, Int, Int), residual: Int? = nil, kernel: Int = 3) -> Int {
            tensors.append(tensor("t\(tensors.count)", shape.0, shape.1, shape.2))
            layers.append(layer(op, input: input, output: tensors.count - 1, residual: residual, kernel: kernel, outChannels: shape.0))
            return tensors.count - 1
        }
        var stream = add(.conv2d, 0, (16, 32, 32))
        var shape = (16, 32, 32)
        for group in 0..<3 {
            for block in 0..<blocksPerGroup {
                let activated = add(.channelAffineReLU, stream, shape, kernel: 1)
                let size = group > 0 && block == 0 ? shape.1 / 2 : shape.1
                let outShape = ((16 << group) * width, size, size)
                let hidden = add(.conv2d, activated, outShape)
                var residual = stream
                if outShape != shape { residual = add(.conv2d, activated, outShape, kernel: 1) }
                stream = add(.conv2d, hidden, outShape, residual: residual)
                shape = outShape
            }
        }
        let features = add(.channelAffineReLU, stream, shape, kernel: 1)
        layers.append(layer(.averagePoolLinear, input: features, output: nil, outChannels: 10))
        return model(tensors: tensors, layers: layers)
    }

    /// Any topologically ordered graph: each layer reads recent (sometimes old) tensors, some outputs
    /// are never read, and a few tensors are produced by nobody.
    static func randomGraph(_ rng: inout SplitMix64) -> ModelDescription {
        var tensors = [tensor("input", 3, Int.random(in: 1...16, using: &rng), Int.random(in: 1...16, using: &rng))]
        var produced = [0]
        var layers: [LayerInfo] = []
        func pick() -> Int {
            Int.random(in: 0..<4, using: &rng) == 0 ? produced.randomElement(using: &rng)! : produced[max(0, produced.count - Int.random(in: 1...3, using: &rng))]
        }
        for _ in 0..<Int.random(in: 0...30, using: &rng) {
            let input = pick()
            let residual: Int? = Int.random(in: 0..<3, using: &rng) == 0 ? pick() : nil
            let channels = Int.random(in: 1...64, using: &rng)
            if Int.random(in: 0..<8, using: &rng) == 0 {
                tensors.append(tensor("orphan\(tensors.count)", channels, 3, 3))  // no layer produces it
            }
            let op: LayerOp = Bool.random(using: &rng) ? .conv2d : .channelAffineReLU
            // Often the shape a real graph has (an affine keeps its input's, a residual conv produces
            // its residual's), so fused affines may take their convolution's residual's bytes.
            let like = op == .channelAffineReLU ? input : residual
            if let like, Int.random(in: 0..<4, using: &rng) > 0 {
                let t = tensors[like]
                tensors.append(tensor("t\(tensors.count)", t.channels, t.height, t.width))
            } else {
                tensors.append(tensor("t\(tensors.count)", channels, Int.random(in: 1...16, using: &rng), Int.random(in: 1...16, using: &rng)))
            }
            layers.append(layer(op, input: input, output: tensors.count - 1, residual: residual,
                                kernel: op == .conv2d ? [1, 3, 5].randomElement(using: &rng)! : 1, outChannels: channels))
            produced.append(tensors.count - 1)
        }
        layers.append(layer(.averagePoolLinear, input: pick(), output: nil, outChannels: 10))
        // A quarter of the tensors int16 (2 bytes per element; their layers neither fuse nor share).
        for index in tensors.indices where Int.random(in: 0..<4, using: &rng) == 0 { tensors[index].elementType = .int16 }
        return model(tensors: tensors, layers: layers)
    }

    /// Every violation of the plan's guarantees, described; empty when the plan is sound. Images in
    /// different slots may be at any layer at the same moment, so their bytes must never meet; within
    /// a slot, tensors alive together must not share bytes.
    static func violations(_ model: ModelDescription, maxBatch: Int, retain: Bool, workers: Int = 1) -> [String] {
        let plan = ArenaPlan(model: model, maxBatch: maxBatch, retainActivations: retain, workers: workers)
        var problems: [String] = []
        let count = model.tensors.count
        // Lifetime of a tensor: [producing layer, last reading layer], the input produced at -1. An
        // affine that reads the output of the convolution just before it runs inside that
        // convolution's tiles, so its output is produced by the convolution's layer.
        var producer = [Int?](repeating: nil, count: count)
        producer[model.input.tensor] = -1
        var fusedInto = [Int?](repeating: nil, count: count)
        for (index, layer) in model.layers.enumerated() {
            guard let output = layer.output else { continue }
            let previous = index > 0 ? model.layers[index - 1] : nil
            let touchesInt16 = { (l: LayerInfo) in [l.input, l.output, l.residual].contains { $0.map { model.tensors[$0].elementType == .int16 } ?? false } }
            let fused = layer.op == .channelAffineReLU && previous?.op == .conv2d && previous?.output == layer.input
                && !touchesInt16(layer) && !touchesInt16(previous!)
            producer[output] = fused ? index - 1 : index
            if fused { fusedInto[output] = index - 1 }
        }
        var lastUse = producer.map { $0 ?? Int.min }
        for (index, layer) in model.layers.enumerated() {
            for read in [layer.input, layer.residual].compactMap({ $0 }) { lastUse[read] = max(lastUse[read], index) }
        }
        // The one sharing allowed between live tensors: a fused affine's output exactly on the bytes of
        // its convolution's residual, when that convolution reads the residual last (each pixel is
        // read by the tile that then overwrites it) and reads it only pointwise.
        func mayShare(_ a: Int, _ b: Int, sameStart: Bool) -> Bool {
            guard sameStart, model.tensors[a].byteCount == model.tensors[b].byteCount else { return false }
            func replaces(_ output: Int, _ residual: Int) -> Bool {
                guard let conv = fusedInto[output] else { return false }
                let layer = model.layers[conv]
                return layer.residual == residual && layer.input != residual && model.layers[conv + 1].input != residual
                    && lastUse[residual] == conv
            }
            return replaces(a, b) || replaces(b, a)
        }
        let expectedSlots = retain ? maxBatch : min(maxBatch, workers)
        if plan.slots != expectedSlots { problems.append("\(plan.slots) slots, expected \(expectedSlots)") }
        var ranges: [(tensor: Int, slot: Int, start: Int, end: Int)] = []
        guard plan.tensorOffsets.count == count else { return ["\(plan.tensorOffsets.count) offsets for \(count) tensors"] }
        for t in 0..<count {
            guard producer[t] != nil else {
                if plan.tensorOffsets[t] != nil { problems.append("tensor \(t) is produced by no layer but has an offset") }
                continue
            }
            guard plan.tensorOffsets[t] != nil else {
                problems.append("tensor \(t) is produced but has no offset")
                continue
            }
            for slot in 0..<plan.slots {
                let offset = plan.offset(tensor: t, slot: slot)!
                let end = offset + model.tensors[t].elementCount * (model.tensors[t].elementType == .int16 ? 2 : 1)
                // Retained images of one tensor sit side by side, so only the first is aligned.
                if offset < 0 || ((slot == 0 || !retain) && offset % WrenFormat.alignment != 0) {
                    problems.append("tensor \(t) slot \(slot) offset \(offset) is not 64-aligned")
                }
                if end > plan.scratchOffset || end > plan.size {
                    problems.append("tensor \(t) slot \(slot) ends at \(end), beyond scratch \(plan.scratchOffset) / size \(plan.size)")
                }
                ranges.append((t, slot, offset, end))
            }
            if retain, plan.offset(tensor: t, slot: 1 % plan.slots)! - plan.offset(tensor: t, slot: 0)! != (plan.slots > 1 ? model.tensors[t].byteCount : 0) {
                problems.append("retained tensor \(t) does not hold its images side by side")
            }
        }
        for a in 0..<ranges.count {
            for b in (a + 1)..<max(a + 1, ranges.count) {
                let (x, y) = (ranges[a], ranges[b])
                let (xStart, yStart) = (producer[x.tensor]!, producer[y.tensor]!)
                let (xEnd, yEnd) = (max(lastUse[x.tensor], xStart), max(lastUse[y.tensor], yStart))
                let alive = retain || x.slot != y.slot || (xStart <= yEnd && yStart <= xEnd)
                let allowed = !retain && x.slot == y.slot && mayShare(x.tensor, y.tensor, sameStart: x.start == y.start)
                if alive && !allowed && x.start < y.end && y.start < x.end {
                    problems.append("tensors \(x.tensor) (slot \(x.slot)) [\(xStart), \(xEnd)] and \(y.tensor) (slot \(y.slot)) [\(yStart), \(yEnd)] "
                        + "may be alive together but share bytes: \(x.start)..<\(x.end) and \(y.start)..<\(y.end)")
                }
            }
        }
        var scratch = 0
        for layer in model.layers {
            let input = model.tensors[layer.input]
            switch layer.op {
            case .conv2d:
                let depth = layer.kernelSize * layer.kernelSize * input.channels
                scratch = max(scratch, 4 * depth)
                if model.isWide(layer) { scratch = max(scratch, 16 * PackedConvWeights.paddedDepth(depth)) }
            case .channelAffineReLU: break
            case .averagePoolLinear: scratch = max(scratch, 4 * input.channels)
            }
        }
        if plan.scratchOffset % WrenFormat.alignment != 0 { problems.append("scratch offset \(plan.scratchOffset) is not 64-aligned") }
        if plan.scratchPerWorker < scratch { problems.append("scratch holds \(plan.scratchPerWorker) bytes per worker, \(scratch) needed") }
        if plan.scratchSize < workers * plan.scratchPerWorker { problems.append("scratch holds \(plan.scratchSize) bytes for \(workers) workers") }
        if plan.size < plan.scratchOffset + plan.scratchSize { problems.append("size \(plan.size) is below the scratch end") }
        return problems
    }

    @Test(arguments: [false, true])
    func randomGraphsGetSoundPlans(retain: Bool) {
        var rng = SplitMix64(seed: retain ? 0x5245_5441 : 0x5245_5553)
        for index in 0..<400 {
            let model = Self.randomGraph(&rng)
            let batch = [1, 2, 3, 8].randomElement(using: &rng)!
            let workers = [1, 2, 3].randomElement(using: &rng)!
            let problems = Self.violations(model, maxBatch: batch, retain: retain, workers: workers)
            #expect(problems.isEmpty, "graph \(index) (\(model.layers.count) layers, batch \(batch), \(workers) workers): \(problems.prefix(3))")
        }
    }

    @Test(arguments: [(1, 1), (2, 4), (4, 1)])
    func wideResNetShapedGraphsGetSoundPlans(blocks: Int, width: Int) {
        let model = Self.wideResNetShaped(blocksPerGroup: blocks, width: width)
        for batch in [1, 5] {
            for retain in [false, true] {
                for workers in [1, 2, 8] {
                    let problems = Self.violations(model, maxBatch: batch, retain: retain, workers: workers)
                    #expect(problems.isEmpty, "batch \(batch) retain \(retain) workers \(workers): \(problems.prefix(3))")
                }
            }
        }
    }

    /// In a pre-activation WRN every block ends in a convolution with a residual that the next
    /// BN-ReLU affine (fused into it) may overwrite: each such affine output takes its residual's
    /// bytes, which is why fusion costs no arena; retained activations never share.
    @Test func fusedAffinesTakeTheirResidualsBytes() {
        let blocks = 2
        let model = Self.wideResNetShaped(blocksPerGroup: blocks, width: 2)
        for (retain, expected) in [(false, 3 * blocks), (true, 0)] {
            let plan = ArenaPlan(model: model, maxBatch: 1, retainActivations: retain)
            var shared = 0
            for (index, layer) in model.layers.enumerated() where model.runsFusedWithPrevious(index) {
                guard let residual = model.layers[index - 1].residual else { continue }
                if plan.tensorOffsets[layer.output!] == plan.tensorOffsets[residual] { shared += 1 }
            }
            #expect(shared == expected, "retain \(retain)")
        }
    }

    /// Reuse is the point of planning: a deep network needs a few live tensors, not all of them.
    /// An int16 tensor takes 2 bytes per element, in the slot plan and in retained strides.
    @Test func int16TensorsTakeTwoBytesPerElement() {
        var model = Self.wideResNetShaped(blocksPerGroup: 1, width: 1)
        let int8Plan = ArenaPlan(model: model, maxBatch: 3, retainActivations: true)
        let index = 3
        model.tensors[index].elementType = .int16
        let plan = ArenaPlan(model: model, maxBatch: 3, retainActivations: true)
        #expect(plan.slotStrides[index] == 2 * model.tensors[index].elementCount)
        #expect(int8Plan.slotStrides[index] == model.tensors[index].elementCount)
        let padded = (2 * 3 * model.tensors[index].elementCount + 63) / 64 * 64 - (3 * model.tensors[index].elementCount + 63) / 64 * 64
        #expect(plan.scratchOffset - int8Plan.scratchOffset == padded)
        for retain in [false, true] {
            #expect(Self.violations(model, maxBatch: 3, retain: retain, workers: 2).isEmpty)
        }
    }

    @Test func reusePlansAreSmallerThanRetainedOnes() {
        let model = Self.wideResNetShaped(blocksPerGroup: 4, width: 2)
        let reused = ArenaPlan(model: model, maxBatch: 2)
        let retained = ArenaPlan(model: model, maxBatch: 2, retainActivations: true)
        let total = model.tensors.reduce(0) { $0 + $1.elementCount * 2 }
        #expect(retained.scratchOffset >= total)
        // At most the input, the stream, the activated stream and a hidden tensor of one image live at once.
        let largest = model.tensors.map(\.elementCount).max()!
        #expect(reused.scratchOffset <= 4 * largest)
        #expect(reused.size < retained.size)
    }

    /// Images run one after another per worker, so the activations grow with the worker count, not
    /// with the batch; only retained activations need every image's copy.
    @Test func slotsFollowTheWorkersNotTheBatch() {
        let model = Self.wideResNetShaped(blocksPerGroup: 1, width: 1)
        let one = ArenaPlan(model: model, maxBatch: 1)
        let many = ArenaPlan(model: model, maxBatch: 64)
        #expect(many == one)
        let twoWorkers = ArenaPlan(model: model, maxBatch: 64, workers: 2)
        #expect(twoWorkers.slots == 2)
        #expect(twoWorkers.scratchOffset == 2 * one.scratchOffset)
        #expect(twoWorkers.scratchSize == 2 * one.scratchSize)
        #expect(ArenaPlan(model: model, maxBatch: 1, workers: 2).slots == 1)
        let retained = ArenaPlan(model: model, maxBatch: 4, retainActivations: true)
        #expect(retained.slots == 4)
        #expect(retained.scratchOffset >= 4 * model.tensors.reduce(0) { $0 + $1.elementCount })
    }

    /// Sizes that do not fit in an Int saturate at Int.max instead of trapping, so every arena
    /// limit refuses them: two activations of 2^62 bytes alive together, a retained batch whose
    /// copies overflow, and slots for many workers.
    @Test func sizesPastIntMaxSaturate() {
        let input = Self.tensor("input", 3, 4, 4)
        let huge = Self.tensor("huge", 1 << 20, 1 << 21, 1 << 21)
        let together = Self.model(tensors: [input, huge, huge], layers: [
            Self.layer(.conv2d, input: 0, output: 1, outChannels: huge.channels),
            Self.layer(.conv2d, input: 1, output: 2, outChannels: huge.channels),
            Self.layer(.averagePoolLinear, input: 2, output: nil, outChannels: 10),
        ])
        #expect(ArenaPlan(model: together, maxBatch: 1).size == Int.max)

        let large = Self.tensor("large", 1 << 10, 1 << 15, 1 << 15)  // 2^40 bytes
        let single = Self.model(tensors: [input, large], layers: [
            Self.layer(.conv2d, input: 0, output: 1, outChannels: large.channels),
            Self.layer(.averagePoolLinear, input: 1, output: nil, outChannels: 10),
        ])
        #expect(ArenaPlan(model: single, maxBatch: 1).size < Int.max)
        #expect(ArenaPlan(model: single, maxBatch: 1 << 24, retainActivations: true).size == Int.max)
        #expect(ArenaPlan(model: single, maxBatch: 1 << 24, workers: 1 << 24).size == Int.max)
    }

    /// The default arena limit leaves room for what Wren is for: a WRN-28-10 on 32x32 images, one
    /// image per worker on 64 workers, or every activation of 64 images retained (`wren validate`).
    @Test func defaultArenaLimitAdmitsWRN28x10() {
        let model = Self.wideResNetShaped(blocksPerGroup: 4, width: 10)
        let single = ArenaPlan(model: model, maxBatch: 1)
        #expect(single.size < 2 << 20, "\(single.size) bytes for one image")
        #expect(ArenaPlan(model: model, maxBatch: 64, workers: 64).size < WrenContext.defaultArenaLimit / 4)
        let retained = ArenaPlan(model: model, maxBatch: 64, retainActivations: true)
        #expect(retained.size < WrenContext.defaultArenaLimit / 2, "\(retained.size) bytes for 64 retained images")
    }
}
