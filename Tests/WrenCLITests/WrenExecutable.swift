import Foundation
import Testing

/// The result of one `wren` invocation.
struct ProcessResult {
    var status: Int32
    /// False when the process died of a signal (a Swift trap, a crash) instead of exiting.
    var exited: Bool
    var stdout: String
    var stderr: String
    var seconds: Double
}

/// Finds the built `wren` executable and runs it as a user would, in a subprocess.
enum WrenExecutable {
    static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        return url
    }()

    static func fixture(_ relativePath: String) -> String {
        repoRoot.appendingPathComponent(relativePath).path
    }

    /// The `wren` beside the test bundle (same build configuration) first, then any
    /// `.build*/<triple-or-config>/{release,debug}/wren` under the repository.
    static let path: String? = {
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL {
            candidates.append(executable.deletingLastPathComponent().appendingPathComponent("wren"))
        }
        if let first = CommandLine.arguments.first {
            candidates.append(URL(fileURLWithPath: first).deletingLastPathComponent().appendingPathComponent("wren"))
        }
        let manager = FileManager.default
        let buildFolders = ((try? manager.contentsOfDirectory(atPath: repoRoot.path)) ?? [])
            .filter { $0.hasPrefix(".build") }.sorted()
        for folder in buildFolders {
            let base = repoRoot.appendingPathComponent(folder)
            for configuration in ["release", "debug"] {
                candidates.append(base.appendingPathComponent(configuration).appendingPathComponent("wren"))
            }
            for triple in ((try? manager.contentsOfDirectory(atPath: base.path)) ?? []).sorted() {
                for configuration in ["release", "debug"] {
                    candidates.append(base.appendingPathComponent(triple).appendingPathComponent(configuration)
                        .appendingPathComponent("wren"))
                }
            }
        }
        return candidates.map(\.path).first { manager.isExecutableFile(atPath: $0) }
    }()

    static func requirePath() throws -> String {
        try #require(path, """
            the built `wren` executable was not found beside the test bundle (\(Bundle.main.executableURL?.path ?? "?")) \
            or under \(repoRoot.path)/.build*/**/{release,debug}/wren; build it with \
            `swift build -c release --scratch-path .build-cli`
            """)
    }

    /// Runs `wren arguments...`; stdout and stderr go to files so large outputs cannot block on a pipe.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        let executable = try requirePath()
        let scratch = try TemporaryFolder()
        let outURL = scratch.url.appendingPathComponent("stdout")
        let errURL = scratch.url.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        let start = Date()
        try process.run()
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        try outHandle.close()
        try errHandle.close()
        return ProcessResult(
            status: process.terminationStatus, exited: process.terminationReason == .exit,
            stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self),
            seconds: seconds)
    }
}

/// A fresh folder under the system temporary directory, removed when the value is released.
final class TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("wren-cli-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Fixture paths the CLI suites share (made by tools/make_fixtures.py, tools/train_digits.py and
/// tools/make_paddle_fixtures.py).
enum CLIFixtures {
    static let biasCheckpoint = WrenExecutable.fixture("fixtures/models/wrn10_2_c3_bias.pth")
    static let biasInput = WrenExecutable.fixture("fixtures/models/wrn10_2_c3_bias.input.npy")
    static let biasLogits = WrenExecutable.fixture("fixtures/models/wrn10_2_c3_bias.logits.npy")
    static let digitsCheckpoint = WrenExecutable.fixture("fixtures/digits/wrn16_2_digits.pth")
    static let digitsCalibration = WrenExecutable.fixture("fixtures/digits/calib_x.npy")
    static let digitsLabels = WrenExecutable.fixture("fixtures/digits/labels.txt")
    static let digitImages = WrenExecutable.fixture("fixtures/digits/images")
    static let digitsTestX = WrenExecutable.fixture("fixtures/digits/test_x.npy")
    static let digitsTestY = WrenExecutable.fixture("fixtures/digits/test_y.npy")
    static let paddleCheckpoint = WrenExecutable.fixture("fixtures/paddle/wrn28_1_c4.pdparams")
    static let paddleInput = WrenExecutable.fixture("fixtures/paddle/wrn28_1_c4.input.npy")

    /// The bundled digits model converted into `folder` (200 calibration images, class labels),
    /// with `method`; returns the .wren path.
    static func convertDigits(into folder: TemporaryFolder, method: String = "minmax") throws -> String {
        let model = folder.path("digits-\(method.replacingOccurrences(of: ":", with: "_")).wren")
        let result = try WrenExecutable.run([
            "convert", digitsCheckpoint, "-o", model, "--calibration", digitsCalibration,
            "--class-names", digitsLabels, "--calibration-method", method,
        ])
        try #require(result.status == 0 && result.exited, "convert failed: \(result.stderr)")
        #expect(result.stdout.contains("calibrated (\(method), weights per-channel)"), "stdout: \(result.stdout)")
        return model
    }
}

/// An error must be an exit (no trap), non-zero, with an "Error:" line on stderr.
func expectCleanFailure(_ result: ProcessResult, _ command: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.exited, "\(command) died of a signal: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(result.status != 0, "\(command) exited 0", sourceLocation: sourceLocation)
    #expect(result.stderr.contains("Error: "), "\(command) stderr: \(result.stderr)", sourceLocation: sourceLocation)
    #expect(!result.stderr.contains("Fatal error"), "\(command) trapped: \(result.stderr)", sourceLocation: sourceLocation)
}
