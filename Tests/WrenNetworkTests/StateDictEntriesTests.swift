import Foundation
import Testing
import WrenNetwork
import WrenTestSupport

/// `WRNArchitecture.stateDictEntries` against what PyTorch lists (fixtures/network, written by
/// tools/make_state_dict_keys.py), against the committed checkpoints, and against what
/// `WideResNet(stateDict:)` reads.
@Suite struct StateDictEntriesTests {
    /// One WRN of fixtures/network/state_dict_keys.json: PyTorch's own state_dict, one line per tensor.
    struct TorchVariant: Sendable, CustomTestStringConvertible {
        var name: String
        var architecture: WRNArchitecture
        var lines: [String]
        var testDescription: String { name }
    }

    /// How a line reads: `key [shape] dtype parameter|buffer`, the same for PyTorch's entries and ours.
    static func line(key: String, shape: [Int], dtype: String, kind: String) -> String { "\(key) \(shape) \(dtype) \(kind)" }

    static func line(_ entry: WRNStateDictEntry) -> String {
        line(key: entry.key, shape: entry.shape, dtype: entry.role == .batchesTracked ? "int64" : "float32",
             kind: entry.role.isParameter ? "parameter" : "buffer")
    }

    /// Where two line lists first differ, or nil: a failure names one line, not two lists of hundreds.
    static func firstDifference(_ ours: [String], _ theirs: [String]) -> String? {
        for (index, (mine, other)) in zip(ours, theirs).enumerated() where mine != other {
            return "line \(index): ours \(mine), expected \(other)"
        }
        guard ours.count != theirs.count else { return nil }
        return "ours has \(ours.count) lines, expected \(theirs.count)"
    }

    /// The keys one side has and the other lacks, or nil when they agree.
    static func keyDifference(_ ours: [String], _ theirs: some Collection<String>) -> String? {
        let missing = Set(theirs).subtracting(ours), extra = Set(ours).subtracting(theirs)
        return missing.isEmpty && extra.isEmpty ? nil : "ours lacks \(missing.sorted()), has extra \(extra.sorted())"
    }

    static let torchVariants: [TorchVariant] = {
        guard let top = Fixtures.json("network/state_dict_keys.json") as? [String: Any],
              let variants = top["variants"] as? [[String: Any]] else { return [] }
        return variants.compactMap { variant in
            guard let name = variant["name"] as? String, let depth = variant["depth"] as? Int,
                  let widen = variant["widen_factor"] as? Int, let classes = variant["num_classes"] as? Int,
                  let convBias = variant["conv_bias"] as? Bool, let entries = variant["entries"] as? [[Any]] else { return nil }
            let lines = entries.map { entry -> String in
                guard entry.count == 4, let key = entry[0] as? String, let shape = entry[1] as? [Int],
                      let dtype = entry[2] as? String, let kind = entry[3] as? String else { return "malformed \(entry)" }
                return line(key: key, shape: shape, dtype: dtype, kind: kind)
            }
            return TorchVariant(name: name, architecture: WRNArchitecture(depth: depth, widenFactor: widen, numClasses: classes, convBias: convBias),
                                lines: lines)
        }
    }()

    @Test func torchKeyListIsPresent() {
        #expect(Self.torchVariants.count == 6, "fixtures/network/state_dict_keys.json: run python3 tools/make_state_dict_keys.py")
    }

    @Test(arguments: torchVariants)
    func matchesPyTorchsStateDict(_ variant: TorchVariant) {
        #expect(Self.firstDifference(variant.architecture.stateDictEntries.map(Self.line), variant.lines) == nil, "\(variant.architecture)")
    }

    /// fixtures/models/<name>.tensors.json lists the real checkpoints' canonical keys with their shapes and
    /// dtypes, in state_dict order (tools/make_fixtures.py dumps an OrderedDict, one top-level key per
    /// line at indent 1), so the order is read from the text and the rest from the parsed JSON.
    @Test func matchesTheCommittedTorchCheckpoints() throws {
        let manifest = try #require(Fixtures.json("models/manifest.json") as? [[String: Any]])
        #expect(manifest.count >= 6)
        for model in manifest {
            let name = try #require(model["name"] as? String)
            let architecture = WRNArchitecture(depth: try #require(model["depth"] as? Int),
                                               widenFactor: try #require(model["widen_factor"] as? Int),
                                               numClasses: try #require(model["num_classes"] as? Int),
                                               convBias: try #require(model["conv_bias"] as? Bool))
            let path = "models/" + (try #require(model["tensors"] as? String))
            let text = try String(contentsOf: Fixtures.url(path), encoding: .utf8)
            let tensors = try #require(Fixtures.json(path) as? [String: [String: Any]], "\(path)")
            let entries = architecture.stateDictEntries

            #expect(Self.keyDifference(entries.map(\.key), tensors.keys) == nil, "\(name) (\(architecture))")
            let found = entries.map { entry in
                let tensor = tensors[entry.key] ?? [:]
                return Self.line(key: entry.key, shape: tensor["shape"] as? [Int] ?? [-1], dtype: tensor["dtype"] as? String ?? "?",
                                 kind: entry.role.isParameter ? "parameter" : "buffer")
            }
            #expect(Self.firstDifference(entries.map(Self.line), found) == nil, "\(name)")

            let positions = entries.compactMap { text.range(of: "\n \"\($0.key)\": {")?.lowerBound }
            #expect(positions.count == entries.count, "\(name): not every key found at the top level of \(path)")
            #expect(zip(positions, positions.dropFirst()).allSatisfy { $0 < $1 }, "\(name): keys out of state_dict order in \(path)")
        }
    }

    /// The torch-saved safetensors fixtures hold the whole state_dict, num_batches_tracked as I64.
    @Test func matchesTheCommittedSafetensorsCheckpoints() throws {
        let manifest = try #require(Fixtures.json("safetensors/manifest.json") as? [[String: Any]])
        let torchSaved = manifest.filter { ($0["saved_as"] as? String)?.hasPrefix("torch") == true }
        #expect(torchSaved.count >= 2)
        for model in torchSaved {
            let file = try #require(model["file"] as? String)
            let architecture = WRNArchitecture(depth: try #require(model["depth"] as? Int),
                                               widenFactor: try #require(model["widen_factor"] as? Int),
                                               numClasses: try #require(model["num_classes"] as? Int),
                                               convBias: try #require(model["conv_bias"] as? Bool))
            let header = try Fixtures.safetensorsHeader("safetensors/" + file)
            let entries = architecture.stateDictEntries
            #expect(Self.keyDifference(entries.map(\.key), header.keys) == nil, "\(file) (\(architecture))")
            for entry in entries {
                guard let tensor = header[entry.key] else { continue }
                #expect(tensor["shape"] as? [Int] == entry.shape, "\(file): \(entry.key)")
                #expect((tensor["dtype"] as? String == "I64") == (entry.role == .batchesTracked), "\(file): \(entry.key) is \(tensor["dtype"] ?? "?")")
            }
        }
    }

    /// A state dict made from the entries and nothing else builds the network, every tensor lands
    /// where its key says, and each one (but the optional counters) is required.
    @Test(arguments: [(10, 1, 10, false), (10, 2, 3, true), (16, 2, 5, false)])
    func initReadsExactlyTheseTensors(depth: Int, widen: Int, classes: Int, convBias: Bool) throws {
        let architecture = WRNArchitecture(depth: depth, widenFactor: widen, numClasses: classes, convBias: convBias)
        var random = SplitMix64(seed: UInt64(depth * 100 + widen))
        var stateDict: [String: FloatTensor] = [:]
        for entry in architecture.stateDictEntries {
            let count = entry.shape.reduce(1, *)
            let range: ClosedRange<Float> = entry.role == .runningVariance ? 0.5...1.5 : -1...1
            stateDict[entry.key] = FloatTensor(shape: entry.shape, data: (0..<count).map { _ in Float.random(in: range, using: &random) })
        }

        let model = try WideResNet(stateDict: stateDict)
        #expect(model.architecture == architecture)
        try model.checkStructure(batch: 1, height: 32, width: 32)
        #expect(model.stem.weight == stateDict["conv1.weight"])
        #expect(model.groups.map(\.count) == Array(repeating: architecture.blocksPerGroup, count: 3))
        for (layout, block) in zip(architecture.blocks, model.groups.joined()) {
            let name = layout.name
            #expect(block.bn1.variance == stateDict[name + ".bn1.running_var"]?.data, "\(name)")
            #expect(block.conv1.weight == stateDict[name + ".conv1.weight"], "\(name)")
            #expect(block.conv1.bias == stateDict[name + ".conv1.bias"]?.data, "\(name)")
            #expect(block.conv1.stride == layout.stride, "\(name)")
            #expect(block.bn2.gamma == stateDict[name + ".bn2.weight"]?.data, "\(name)")
            #expect(block.conv2.weight == stateDict[name + ".conv2.weight"], "\(name)")
            #expect(block.shortcut?.weight == stateDict[name + ".convShortcut.weight"], "\(name)")
            #expect(block.shortcut?.stride == (layout.hasShortcut ? layout.stride : nil), "\(name)")
        }
        #expect(model.finalBN.mean == stateDict["bn1.running_mean"]?.data)
        #expect(model.fc.weight == stateDict["fc.weight"])
        #expect(model.fc.bias == stateDict["fc.bias"]?.data)

        for entry in architecture.stateDictEntries where entry.role != .batchesTracked {
            var partial = stateDict
            partial.removeValue(forKey: entry.key)
            #expect(throws: NetworkError.missingTensor(key: entry.key)) { try WideResNet(stateDict: partial) }
        }
    }

    /// The layout's shortcuts only mean something for a real widen factor, so a network that claims
    /// another is refused rather than checked against shortcuts that vanished.
    @Test func structureCheckRefusesAWidenFactorBelowOne() throws {
        let architecture = WRNArchitecture(depth: 10, widenFactor: 1, numClasses: 2, convBias: false)
        let stateDict = Dictionary(uniqueKeysWithValues: architecture.stateDictEntries.map { entry in
            (entry.key, FloatTensor(shape: entry.shape, data: .init(repeating: 1, count: entry.shape.reduce(1, *))))
        })
        var model = try WideResNet(stateDict: stateDict)
        model.architecture.widenFactor = 0
        #expect(throws: NetworkError.unsupportedArchitecture("widen factor 0 is not at least 1")) {
            try model.checkStructure(batch: 1, height: 32, width: 32)
        }
    }

    /// The role says which module kind holds the tensor, so a trainer or writer need not parse keys.
    @Test func rolesMatchTheirModules() {
        let entries = WRNArchitecture(depth: 16, widenFactor: 2, numClasses: 10, convBias: true).stateDictEntries
        for entry in entries {
            let module = entry.module.split(separator: ".").last.map(String.init) ?? ""
            switch entry.role {
            case .convWeight, .convBias:
                #expect(module.hasPrefix("conv"), "\(entry)")
            case .batchNormWeight, .batchNormBias, .runningMean, .runningVariance, .batchesTracked:
                #expect(module.hasPrefix("bn"), "\(entry)")
            case .linearWeight, .linearBias:
                #expect(module == "fc", "\(entry)")
            }
        }
        #expect(Set(entries.map(\.role)) == Set(WRNTensorRole.allCases))
    }

    /// WRN-28-10 on CIFAR-10 has 36,479,194 trainable values as PyTorch counts them (the paper's 36.5M).
    @Test func wrn28_10ParameterCount() {
        let entries = WRNArchitecture(depth: 28, widenFactor: 10, numClasses: 10, convBias: false).stateDictEntries
        let counts: [Int] = entries.filter(\.role.isParameter).map { $0.shape.reduce(1, *) }
        #expect(counts.reduce(0, +) == 36_479_194)
    }
}
