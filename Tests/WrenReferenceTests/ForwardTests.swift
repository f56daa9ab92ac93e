import Testing
import WrenNetwork
@testable import WrenReference

/// The whole forward pass: what the observer sees, layer-by-layer semantics, and input checks.
@Suite struct ForwardTests {
    struct Recorded { var name: String; var shape: ActivationShape; var values: [Float] }

    static func record(_ model: WideResNet, _ input: [Float], batch: Int, height: Int, width: Int) throws -> (logits: [Float], activations: [Recorded]) {
        var activations: [Recorded] = []
        let logits = try model.forward(input, batch: batch, height: height, width: width) { name, shape, values in
            #expect(values.count == shape.count, "\(name): \(values.count) values for \(shape)")
            activations.append(Recorded(name: name, shape: shape, values: Array(values)))
        }
        return (logits, activations)
    }

    @Test func observerOrderAndShapesForWRN10_1() throws {
        let model = try WideResNet(stateDict: syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 21))
        var random = SeededGenerator(seed: 22)
        let (logits, activations) = try Self.record(model, random.uniform(2 * 3 * 32 * 32), batch: 2, height: 32, width: 32)
        func s(_ c: Int, _ h: Int) -> ActivationShape { ActivationShape(batch: 2, channels: c, height: h, width: h) }
        let expected: [(String, ActivationShape)] = [
            ("input", s(3, 32)), ("conv1", s(16, 32)),
            ("block1.layer.0.relu1", s(16, 32)), ("block1.layer.0.relu2", s(16, 32)), ("block1.layer.0", s(16, 32)),
            ("block2.layer.0.relu1", s(16, 32)), ("block2.layer.0.relu2", s(32, 16)),
            ("block2.layer.0.convShortcut", s(32, 16)), ("block2.layer.0", s(32, 16)),
            ("block3.layer.0.relu1", s(32, 16)), ("block3.layer.0.relu2", s(64, 8)),
            ("block3.layer.0.convShortcut", s(64, 8)), ("block3.layer.0", s(64, 8)),
            ("relu", s(64, 8)), ("pool", s(64, 1)),
        ]
        #expect(activations.map(\.name) == expected.map(\.0))
        #expect(activations.map(\.shape) == expected.map(\.1))
        #expect(WideResNet.activationNames(for: model.architecture) == expected.map(\.0))
        #expect(logits.count == 2 * 10)
        #expect(logits.allSatisfy { $0.isFinite })
    }

    @Test func observerNamesForWRN16_2MatchTheStaticList() throws {
        let model = try WideResNet(stateDict: syntheticStateDict(depth: 16, widenFactor: 2, classes: 4, seed: 23))
        var random = SeededGenerator(seed: 24)
        let (_, activations) = try Self.record(model, random.uniform(3 * 8 * 8), batch: 1, height: 8, width: 8)
        let names = WideResNet.activationNames(for: model.architecture)
        #expect(activations.map(\.name) == names)
        #expect(names.count == 2 + 3 * 2 * 3 + 3 + 2)
        #expect(names[2...6] == ["block1.layer.0.relu1", "block1.layer.0.relu2", "block1.layer.0.convShortcut",
                                 "block1.layer.0", "block1.layer.1.relu1"])
    }

    /// Re-derives every observed activation from the previous ones with the naive convolution and a
    /// textbook batch norm, which pins down the block structure: which input each conv and each
    /// shortcut reads, where the residual comes from, and what reaches the classifier.
    @Test(arguments: [(16, 2, false), (10, 1, true), (22, 1, false)])
    func everyActivationFollowsFromThePreviousOnes(depth: Int, widen: Int, convBias: Bool) throws {
        let model = try WideResNet(stateDict: syntheticStateDict(depth: depth, widenFactor: widen, classes: 5, convBias: convBias, seed: 25))
        var random = SeededGenerator(seed: 26)
        let (height, width) = (11, 7)
        let input = random.uniform(2 * 3 * height * width)
        let (logits, activations) = try Self.record(model, input, batch: 2, height: height, width: width)
        let byName = Dictionary(uniqueKeysWithValues: activations.map { ($0.name, $0) })

        func check(_ name: String, _ expected: [Float], _ shape: ActivationShape, file: StaticString = #filePath, line: Int = #line) {
            guard let seen = byName[name] else { Issue.record("\(name) not observed"); return }
            #expect(seen.shape == shape, "\(name)")
            let (difference, scale) = maxDifference(seen.values, expected)
            #expect(difference <= 1e-5 * max(scale, 1), "\(name): max|Δ| \(difference), max|ref| \(scale)")
        }

        #expect(byName["input"]?.values == input)
        let stem = naiveConvolution(model.stem, input: input, shape: ActivationShape(batch: 2, channels: 3, height: height, width: width))
        check("conv1", stem.values, stem.shape)
        var previous = byName["conv1"]!
        for (g, blocks) in model.groups.enumerated() {
            for (i, block) in blocks.enumerated() {
                let name = "block\(g + 1).layer.\(i)"
                check(name + ".relu1", naiveBatchNormReLU(block.bn1, input: previous.values, shape: previous.shape), previous.shape)
                let relu1 = byName[name + ".relu1"]!
                let conv1 = naiveConvolution(block.conv1, input: relu1.values, shape: relu1.shape)
                check(name + ".relu2", naiveBatchNormReLU(block.bn2, input: conv1.values, shape: conv1.shape), conv1.shape)
                let relu2 = byName[name + ".relu2"]!
                let conv2 = naiveConvolution(block.conv2, input: relu2.values, shape: relu2.shape)
                let residual: [Float]
                if let shortcut = block.shortcut {
                    let projected = naiveConvolution(shortcut, input: relu1.values, shape: relu1.shape)
                    check(name + ".convShortcut", projected.values, projected.shape)
                    residual = byName[name + ".convShortcut"]!.values
                } else {
                    #expect(byName[name + ".convShortcut"] == nil)
                    residual = previous.values
                }
                check(name, zip(conv2.values, residual).map { $0 + $1 }, conv2.shape)
                previous = byName[name]!
            }
        }
        check("relu", naiveBatchNormReLU(model.finalBN, input: previous.values, shape: previous.shape), previous.shape)
        let relu = byName["relu"]!
        let plane = relu.shape.height * relu.shape.width
        let pooled = (0..<(2 * relu.shape.channels)).map { p in
            Float(relu.values[(p * plane)..<((p + 1) * plane)].reduce(0.0) { $0 + Double($1) } / Double(plane))
        }
        check("pool", pooled, ActivationShape(batch: 2, channels: relu.shape.channels, height: 1, width: 1))
        let features = byName["pool"]!.values
        let classes = model.fc.outFeatures, inFeatures = model.fc.inFeatures
        let expectedLogits = (0..<(2 * classes)).map { index in
            let (n, o) = index.quotientAndRemainder(dividingBy: classes)
            return Float((0..<inFeatures).reduce(Double(model.fc.bias[o])) {
                $0 + Double(features[n * inFeatures + $1]) * Double(model.fc.weight.data[o * inFeatures + $1])
            })
        }
        let (difference, scale) = maxDifference(logits, expectedLogits)
        #expect(difference <= 1e-5 * max(scale, 1))
    }

    /// Each image of a batch comes out bit for bit as if it had been run alone, whatever the batch
    /// size: the reference's promise (README, "Validating int8 accuracy"), so that calibration and
    /// `wren validate` do not depend on how inputs are batched. OpenBLAS rounds a GEMM differently by
    /// shape and CPU, so this holds only because every BLAS call is made per image with the same shape;
    /// 100 classes × 128 features is a classifier large enough that a batched GEMM would block differently.
    @Test(arguments: [(6, false), (100, true)])
    func batchedEqualsOneByOne(classes: Int, convBias: Bool) throws {
        let model = try WideResNet(stateDict: syntheticStateDict(depth: 10, widenFactor: 2, classes: classes, convBias: convBias, seed: 27))
        var random = SeededGenerator(seed: 28)
        let perImage = 3 * 12 * 12
        let input = random.uniform(7 * perImage)
        func run(_ images: Range<Int>) throws -> [Float] {
            try model.forward(Array(input[(images.lowerBound * perImage)..<(images.upperBound * perImage)]),
                              batch: images.count, height: 12, width: 12)
        }
        let single = try (0..<7).map { try run($0..<($0 + 1)) }
        for batch in [try run(0..<7), try run(0..<3) + run(3..<7), try run(0..<2) + run(2..<5) + run(5..<7)] {
            for image in 0..<7 {
                let logits = Array(batch[(image * classes)..<((image + 1) * classes)])
                #expect(logits.map(\.bitPattern) == single[image].map(\.bitPattern), "image \(image): \(logits.prefix(4)) vs \(single[image].prefix(4))")
            }
        }
    }

    @Test func nonSquareInput() throws {
        let model = try WideResNet(stateDict: syntheticStateDict(depth: 10, widenFactor: 1, classes: 3, seed: 29))
        var random = SeededGenerator(seed: 30)
        let (logits, activations) = try Self.record(model, random.uniform(24 * 40 * 3), batch: 1, height: 24, width: 40)
        #expect(activations.first { $0.name == "block3.layer.0" }?.shape == ActivationShape(batch: 1, channels: 64, height: 6, width: 10))
        #expect(logits.count == 3)
    }

    @Test func rejectsBadInput() throws {
        let model = try WideResNet(stateDict: syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 31))
        var input = [Float](repeating: 0.5, count: 2 * 3 * 32 * 32)
        #expect(throws: NetworkError.invalidInput("expected 6144 values for [2, 3, 32, 32], got 6143")) {
            try model.forward(Array(input.dropLast()), batch: 2)
        }
        #expect(throws: NetworkError.invalidInput("batch 0, height 32 and width 32 must all be at least 1")) {
            try model.forward([], batch: 0)
        }
        input[17] = .nan
        #expect(throws: NetworkError.invalidInput("value nan at index 17 is not finite")) {
            try model.forward(input, batch: 2)
        }
        input[17] = 0
        input[4000] = -.infinity
        #expect(throws: NetworkError.invalidInput("value -inf at index 4000 is not finite")) {
            try model.forward(input, batch: 2)
        }
        #expect(throws: NetworkError.self) { try model.forward([1], batch: Int.max, height: Int.max, width: 2) }
    }

    /// A network assembled or edited by hand is checked before it runs, not trusted.
    @Test func rejectsInconsistentNetworks() throws {
        let model = try WideResNet(stateDict: syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 32))
        let input = [Float](repeating: 0.1, count: 3 * 32 * 32)

        var noShortcut = model
        noShortcut.groups[1][0].shortcut = nil
        #expect(throws: NetworkError.unsupportedArchitecture("block2.layer.0 lacks the convShortcut that WRN-10-1 has")) {
            try noShortcut.forward(input, batch: 1)
        }
        var wrongWidth = model
        wrongWidth.groups[2][0].conv2.weight = FloatTensor(shape: [64, 32, 3, 3], data: .init(repeating: 0, count: 64 * 32 * 9))
        #expect(throws: NetworkError.unsupportedArchitecture("block3.layer.0.conv2 takes 32 channels but receives [1, 64, 8, 8]")) {
            try wrongWidth.forward(input, batch: 1)
        }
        var shortBN = model
        shortBN.finalBN.mean.removeLast()
        #expect(throws: NetworkError.self) { try shortBN.forward(input, batch: 1) }
        var flatWeight = model
        flatWeight.stem.weight = FloatTensor(shape: [16, 27], data: model.stem.weight.data)
        #expect(throws: NetworkError.self) { try flatWeight.forward(input, batch: 1) }
        var missingGroup = model
        missingGroup.groups.removeLast()
        #expect(throws: NetworkError.unsupportedArchitecture("2 groups of blocks, a WRN has 3")) {
            try missingGroup.forward(input, batch: 1)
        }
        var wrongBias = model
        wrongBias.groups[0][0].conv1.bias = [1, 2]
        #expect(throws: NetworkError.self) { try wrongBias.forward(input, batch: 1) }
    }
}
