import Foundation
import Testing

/// PNGs of every colour type through `wren run`: the logits equal, bit for bit, those of the same
/// pixels given as a normalized .npy (tools/make_png_fixtures.py letterboxes them in NumPy).
@Suite struct PNGCLITests {
    static let folder = WrenExecutable.fixture("fixtures/images/png")

    @Test func pngLogitsEqualTheirPixelsAsNpy() throws {
        let scratch = try TemporaryFolder()
        let model = try CLIFixtures.convertDigits(into: scratch)
        let names = try String(contentsOfFile: Self.folder + "/batch.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        try #require(names.count >= 20, "batch.txt lists \(names.count) cases")
        let images = names.map { "\(Self.folder)/\($0).png" }
        let fromPNG = try WrenExecutable.run(["run", model] + images + ["--logits", scratch.path("png.npy"), "--quiet"])
        #expect(fromPNG.status == 0, "stderr: \(fromPNG.stderr)")
        let fromNpy = try WrenExecutable.run(["run", model, Self.folder + "/batch.letterbox32.npy", "--logits", scratch.path("npy.npy"), "--quiet"])
        #expect(fromNpy.status == 0, "stderr: \(fromNpy.stderr)")
        let png = try NpyFloat32(path: scratch.path("png.npy")), npy = try NpyFloat32(path: scratch.path("npy.npy"))
        #expect(png.shape == [names.count, 10])
        #expect(png.values.map(\.bitPattern) == npy.values.map(\.bitPattern))
    }

    @Test func aCorruptPNGIsAnErrorThatNamesIt() throws {
        let scratch = try TemporaryFolder()
        let model = try CLIFixtures.convertDigits(into: scratch)
        let truncated = Self.folder + "/truncated.png"
        let result = try WrenExecutable.run(["run", model, truncated])
        expectCleanFailure(result, "run truncated.png")
        #expect(result.stderr.contains("corrupt PNG '\(truncated)': unexpected end of file (the PNG is truncated)"), "\(result.stderr)")
    }
}
