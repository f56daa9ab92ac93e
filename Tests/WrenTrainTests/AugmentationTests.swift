import Testing
@testable import WrenTrain

/// `--augment`: parsing, and what each change does to a 3 x 5 x 4 image whose values name their
/// position (value = 100c + 10y + x), so every output value says where it came from.
@Suite struct AugmentationTests {
    static let height = 5, width = 4
    static let image: [Float] = {
        var values: [Float] = []
        for c in 0..<3 {
            for y in 0..<height {
                for x in 0..<width { values.append(Float(100 * c + 10 * y + x)) }
            }
        }
        return values
    }()

    static func augmented(_ augmentation: Augmentation, seed: UInt64, count: Int) -> [[Float]] {
        var generator = ParameterGenerator(seed: seed)
        return (0..<count).map { _ in
            var output = [Float](repeating: .nan, count: image.count)
            image.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { destination in
                    augmentation.apply(source, to: destination, height: height, width: width, generator: &generator)
                }
            }
            return output
        }
    }

    @Test func parses() throws {
        #expect(try Augmentation(parsing: "none").isNone)
        #expect(try Augmentation(parsing: "hflip,vflip") == Augmentation(horizontalFlip: true, verticalFlip: true))
        #expect(try Augmentation(parsing: "crop, hflip").description == "hflip,crop")
        #expect(try Augmentation(parsing: "crop").cropPadding == 4)
        #expect(throws: TrainingError.invalidConfiguration("augmentation 'rotate' is not one of hflip, vflip, crop (or none)")) {
            try Augmentation(parsing: "hflip,rotate")
        }
        #expect(throws: TrainingError.invalidConfiguration("augmentation '' is not one of hflip, vflip, crop (or none)")) {
            try Augmentation(parsing: "hflip,")
        }
    }

    @Test func flipsGiveTheFourMirrorImagesAboutEquallyOften() {
        let outputs = Self.augmented(Augmentation(horizontalFlip: true, verticalFlip: true), seed: 7, count: 400)
        func value(_ output: [Float], _ c: Int, _ y: Int, _ x: Int) -> Float { output[c * 20 + y * 4 + x] }
        var kinds: [String: Int] = [:]
        for output in outputs {
            // Every output is one of the 4 mirror images, all channels alike.
            let flipX = value(output, 0, 0, 0).truncatingRemainder(dividingBy: 10) == 3
            let flipY = value(output, 0, 0, 0) >= 40
            for c in 0..<3 {
                for y in 0..<5 {
                    for x in 0..<4 {
                        let sourceY = flipY ? 4 - y : y, sourceX = flipX ? 3 - x : x
                        #expect(value(output, c, y, x) == Float(100 * c + 10 * sourceY + sourceX))
                    }
                }
            }
            kinds["\(flipX)\(flipY)", default: 0] += 1
        }
        #expect(kinds.count == 4)
        #expect(kinds.values.allSatisfy { (70...130).contains($0) }, "\(kinds)")
        // Seeded: the same seed gives the same changes.
        #expect(outputs == Self.augmented(Augmentation(horizontalFlip: true, verticalFlip: true), seed: 7, count: 400))
        #expect(outputs != Self.augmented(Augmentation(horizontalFlip: true, verticalFlip: true), seed: 8, count: 400))
    }

    @Test func cropShiftsByUpToFourAndFillsWithThePadding() {
        let padding: [Float] = [-1, -2, -3]
        let outputs = Self.augmented(Augmentation(cropPadding: 4, padding: padding), seed: 1, count: 500)
        var shifts = Set<[Int]>()
        for output in outputs {
            // The shift is read off any pixel that came from the image.
            var shift: [Int]?
            for c in 0..<3 {
                for y in 0..<5 {
                    for x in 0..<4 {
                        let v = output[c * 20 + y * 4 + x]
                        if v < 0 {
                            #expect(v == padding[c])
                            continue
                        }
                        let sourceY = Int(v) % 100 / 10, sourceX = Int(v) % 10
                        #expect(Int(v) / 100 == c)
                        let found = [sourceX - x, sourceY - y]
                        if let shift { #expect(shift == found) } else { shift = found }
                    }
                }
            }
            if let shift {
                #expect(shift.allSatisfy { (-4...4).contains($0) })
                shifts.insert(shift)
            }
        }
        // Shifts that keep some of the 5 x 4 image: dx in -3...3, dy in -4...4 (63 kinds), all seen in 500 draws.
        #expect(shifts.count == 63, "\(shifts.count) shifts")
    }
}
