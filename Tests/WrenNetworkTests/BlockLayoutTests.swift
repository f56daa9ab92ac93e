import Testing
import WrenNetwork

/// `WRNArchitecture.blocks`, spelled out by hand for the shapes that matter: k = 1 (block1's first
/// block keeps its width), two blocks per group, and WRN-28-10.
@Suite struct BlockLayoutTests {
    struct Expected {
        var names: [String]
        var inChannels: [Int]
        var outChannels: [Int]
        var strides: [Int]
        var shortcuts: [Bool]
    }

    static func check(_ architecture: WRNArchitecture, _ expected: Expected) {
        let blocks = architecture.blocks
        #expect(blocks.map(\.name) == expected.names, "\(architecture)")
        #expect(blocks.map(\.inChannels) == expected.inChannels, "\(architecture)")
        #expect(blocks.map(\.outChannels) == expected.outChannels, "\(architecture)")
        #expect(blocks.map(\.stride) == expected.strides, "\(architecture)")
        #expect(blocks.map(\.hasShortcut) == expected.shortcuts, "\(architecture)")
    }

    @Test func wrn10_1() {
        let architecture = WRNArchitecture(depth: 10, widenFactor: 1, numClasses: 10, convBias: false)
        Self.check(architecture, Expected(
            names: ["block1.layer.0", "block2.layer.0", "block3.layer.0"],
            inChannels: [16, 16, 32], outChannels: [16, 32, 64], strides: [1, 2, 2], shortcuts: [false, true, true]))
        #expect(architecture.blocks.map(\.group) == [1, 2, 3])
        #expect(architecture.blocks.map(\.index) == [0, 0, 0])
    }

    @Test func wrn16_2() {
        let architecture = WRNArchitecture(depth: 16, widenFactor: 2, numClasses: 10, convBias: false)
        Self.check(architecture, Expected(
            names: ["block1.layer.0", "block1.layer.1", "block2.layer.0", "block2.layer.1", "block3.layer.0", "block3.layer.1"],
            inChannels: [16, 32, 32, 64, 64, 128], outChannels: [32, 32, 64, 64, 128, 128],
            strides: [1, 1, 2, 1, 2, 1], shortcuts: [true, false, true, false, true, false]))
        #expect(architecture.blocks.map(\.group) == [1, 1, 2, 2, 3, 3])
        #expect(architecture.blocks.map(\.index) == [0, 1, 0, 1, 0, 1])
    }

    @Test func wrn28_10() {
        let architecture = WRNArchitecture(depth: 28, widenFactor: 10, numClasses: 100, convBias: false)
        Self.check(architecture, Expected(
            names: ["block1.layer.0", "block1.layer.1", "block1.layer.2", "block1.layer.3",
                    "block2.layer.0", "block2.layer.1", "block2.layer.2", "block2.layer.3",
                    "block3.layer.0", "block3.layer.1", "block3.layer.2", "block3.layer.3"],
            inChannels: [16, 160, 160, 160, 160, 320, 320, 320, 320, 640, 640, 640],
            outChannels: [160, 160, 160, 160, 320, 320, 320, 320, 640, 640, 640, 640],
            strides: [1, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1],
            shortcuts: [true, false, false, false, true, false, false, false, true, false, false, false]))
        #expect(architecture.blocks[4].description == "block2.layer.0: 160 → 320, stride 2, convShortcut")
    }

    /// Depths below 10 have no blocks rather than a negative count (checkStructure rejects them).
    @Test func tooShallowForABlock() {
        for depth in [-2, 3, 4, 9] {
            #expect(WRNArchitecture(depth: depth, widenFactor: 1, numClasses: 10, convBias: false).blocks.isEmpty, "depth \(depth)")
        }
    }
}
