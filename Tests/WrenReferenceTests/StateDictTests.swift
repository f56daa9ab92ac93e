import Testing
import WrenNetwork

/// Architecture inference and shape checking of `WideResNet(stateDict:)` on synthetic state dicts.
@Suite struct StateDictTests {
    @Test func wrn10_1HasNoShortcutInItsFirstBlock() throws {
        let model = try WideResNet(stateDict: syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 1))
        #expect(model.architecture == WRNArchitecture(depth: 10, widenFactor: 1, numClasses: 10, convBias: false))
        #expect(model.groups.map(\.count) == [1, 1, 1])
        #expect(model.groups[0][0].shortcut == nil)
        #expect(model.groups[1][0].shortcut?.weight.shape == [32, 16, 1, 1])
        #expect(model.groups[1][0].shortcut?.stride == 2)
        #expect(model.groups[1][0].shortcut?.padding == 0)
        #expect(model.groups[2][0].conv1.stride == 2)
        #expect(model.groups[0][0].conv1.stride == 1)
        #expect(model.stem.bias == nil)
        #expect(model.fc.weight.shape == [10, 64])
        #expect(model.finalBN.channels == 64)
    }

    @Test func wrn16_2() throws {
        let tensors = syntheticStateDict(depth: 16, widenFactor: 2, classes: 100, seed: 2)
        let model = try WideResNet(stateDict: tensors)
        #expect(model.architecture == WRNArchitecture(depth: 16, widenFactor: 2, numClasses: 100, convBias: false))
        #expect(model.groups.map(\.count) == [2, 2, 2])
        #expect(model.groups.map { $0.map { $0.shortcut != nil } } == [[true, false], [true, false], [true, false]])
        #expect(model.groups[0][0].shortcut?.weight.shape == [32, 16, 1, 1])
        #expect(model.groups[0][0].shortcut?.stride == 1)
        #expect(model.groups[2][1].conv2.weight.shape == [128, 128, 3, 3])
        // The tensors land where their keys say.
        #expect(model.groups[1][1].bn2.variance == tensors["block2.layer.1.bn2.running_var"]?.data)
        #expect(model.groups[2][0].conv1.weight == tensors["block3.layer.0.conv1.weight"])
        #expect(model.fc.bias == tensors["fc.bias"]?.data)
    }

    @Test func deeperNetworkCountsItsLayers() throws {
        let model = try WideResNet(stateDict: syntheticStateDict(depth: 22, widenFactor: 1, classes: 7, seed: 3))
        #expect(model.architecture == WRNArchitecture(depth: 22, widenFactor: 1, numClasses: 7, convBias: false))
        #expect(model.groups.map(\.count) == [3, 3, 3])
    }

    @Test func convBiasesOnEveryConv() throws {
        let tensors = syntheticStateDict(depth: 10, widenFactor: 2, classes: 3, convBias: true, seed: 4)
        let model = try WideResNet(stateDict: tensors)
        #expect(model.architecture.convBias)
        let convs = [model.stem] + model.groups.flatMap { $0.flatMap { [$0.conv1, $0.conv2] + ($0.shortcut.map { [$0] } ?? []) } }
        #expect(convs.count == 1 + 3 * 2 + 3)
        #expect(convs.allSatisfy { $0.bias?.count == $0.outChannels })
        #expect(model.groups[1][0].shortcut?.bias == tensors["block2.layer.0.convShortcut.bias"]?.data)
    }

    @Test func ignoresKeysOutsideTheNetwork() throws {
        var tensors = syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 5)
        tensors["optimizer.step"] = FloatTensor(shape: [1], data: [3])
        tensors["epoch"] = FloatTensor(shape: [], data: [7])
        tensors.removeValue(forKey: "bn1.num_batches_tracked")  // optional bookkeeping
        #expect(try WideResNet(stateDict: tensors).architecture.depth == 10)
    }

    @Test func missingTensor() {
        var tensors = syntheticStateDict(depth: 16, widenFactor: 2, classes: 10, seed: 6)
        tensors.removeValue(forKey: "block2.layer.1.bn2.running_var")
        #expect(throws: NetworkError.missingTensor(key: "block2.layer.1.bn2.running_var")) {
            try WideResNet(stateDict: tensors)
        }
    }

    @Test func missingLayerInOneGroup() {
        var tensors = syntheticStateDict(depth: 16, widenFactor: 1, classes: 10, seed: 7)
        for key in tensors.keys where key.hasPrefix("block3.layer.1.") { tensors.removeValue(forKey: key) }
        #expect(throws: NetworkError.missingTensor(key: "block3.layer.1.bn1.weight")) {
            try WideResNet(stateDict: tensors)
        }
    }

    @Test func missingShortcut() {
        var tensors = syntheticStateDict(depth: 10, widenFactor: 2, classes: 10, seed: 8)
        tensors.removeValue(forKey: "block1.layer.0.convShortcut.weight")
        #expect(throws: NetworkError.missingTensor(key: "block1.layer.0.convShortcut.weight")) {
            try WideResNet(stateDict: tensors)
        }
    }

    @Test func missingClassifier() {
        var tensors = syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 9)
        tensors.removeValue(forKey: "fc.weight")
        #expect(throws: NetworkError.missingTensor(key: "fc.weight")) { try WideResNet(stateDict: tensors) }
    }

    @Test func someConvBiasesMissing() {
        var tensors = syntheticStateDict(depth: 10, widenFactor: 2, classes: 3, convBias: true, seed: 10)
        tensors.removeValue(forKey: "block3.layer.0.conv2.bias")
        #expect(throws: NetworkError.missingTensor(key: "block3.layer.0.conv2.bias")) {
            try WideResNet(stateDict: tensors)
        }
    }

    @Test func wrongConvShape() {
        var tensors = syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 11)
        tensors["block3.layer.0.conv2.weight"] = FloatTensor(shape: [64, 64, 3, 1], data: .init(repeating: 0.1, count: 64 * 64 * 3))
        #expect(throws: NetworkError.shapeMismatch(key: "block3.layer.0.conv2.weight", expected: [64, 64, 3, 3], found: [64, 64, 3, 1])) {
            try WideResNet(stateDict: tensors)
        }
    }

    @Test func wrongBatchNormShape() {
        var tensors = syntheticStateDict(depth: 16, widenFactor: 2, classes: 10, seed: 12)
        tensors["block2.layer.0.bn1.running_mean"] = FloatTensor(shape: [64], data: .init(repeating: 0, count: 64))
        #expect(throws: NetworkError.shapeMismatch(key: "block2.layer.0.bn1.running_mean", expected: [32], found: [64])) {
            try WideResNet(stateDict: tensors)
        }
    }

    @Test func classifierWidthMustMatchLastGroup() {
        var tensors = syntheticStateDict(depth: 10, widenFactor: 2, classes: 5, seed: 13)
        tensors["fc.weight"] = FloatTensor(shape: [5, 64], data: .init(repeating: 0, count: 5 * 64))
        #expect(throws: NetworkError.shapeMismatch(key: "fc.weight", expected: [5, 128], found: [5, 64])) {
            try WideResNet(stateDict: tensors)
        }
    }

    @Test func strayShortcutWhereNoneBelongs() {
        var tensors = syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 14)
        tensors["block1.layer.0.convShortcut.weight"] = FloatTensor(shape: [16, 16, 1, 1], data: .init(repeating: 0, count: 256))
        #expect(throws: NetworkError.unsupportedArchitecture("tensor 'block1.layer.0.convShortcut.weight' is not part of WRN-10-1 as inferred from the checkpoint")) {
            try WideResNet(stateDict: tensors)
        }
    }

    @Test func strayFourthGroupAndTopLevelModules() {
        for stray in ["block4.layer.0.conv1.weight", "bn2.weight", "fc.extra", "conv2.weight"] {
            var tensors = syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 15)
            tensors[stray] = FloatTensor(shape: [1], data: [0])
            #expect(throws: NetworkError.unsupportedArchitecture("tensor '\(stray)' is not part of WRN-10-1 as inferred from the checkpoint")) {
                try WideResNet(stateDict: tensors)
            }
        }
    }

    @Test func widthThatIsNotAMultipleOf16() {
        var tensors = syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 16)
        tensors["block1.layer.0.conv1.weight"] = FloatTensor(shape: [24, 16, 3, 3], data: .init(repeating: 0, count: 24 * 144))
        #expect(throws: NetworkError.self) { try WideResNet(stateDict: tensors) }
        do {
            _ = try WideResNet(stateDict: tensors)
        } catch {
            guard case .unsupportedArchitecture(let why) = error else { Issue.record("got \(error)"); return }
            #expect(why.contains("block1.layer.0.conv1.weight"))
        }
    }

    @Test func nonFiniteWeightAndNegativeVariance() {
        var tensors = syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 17)
        tensors["block2.layer.0.conv2.weight"]!.data[5] = .nan
        #expect(throws: NetworkError.unsupportedArchitecture("tensor 'block2.layer.0.conv2.weight' holds the non-finite value nan at index 5")) {
            try WideResNet(stateDict: tensors)
        }
        tensors = syntheticStateDict(depth: 10, widenFactor: 1, classes: 10, seed: 17)
        tensors["bn1.running_var"]!.data[3] = -0.5
        #expect(throws: NetworkError.unsupportedArchitecture("tensor 'bn1.running_var' holds the negative variance -0.5 at index 3")) {
            try WideResNet(stateDict: tensors)
        }
    }

    @Test func emptyStateDict() {
        #expect(throws: NetworkError.missingTensor(key: "block1.layer.0.conv1.weight")) {
            try WideResNet(stateDict: [:])
        }
    }
}
