import Foundation
import Testing
@testable import WrenConvert

@Suite struct AtomicFileTests {
    /// A fresh directory per test, removed afterwards.
    final class Scratch {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("wren-atomic-\(UUID().uuidString)")
        init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false) }
        deinit { try? FileManager.default.removeItem(at: url) }
        func path(_ name: String) -> String { url.appendingPathComponent(name).path }
        func entries() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() }
        func read(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: url.appendingPathComponent(name))) }
        func create(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: url.appendingPathComponent(name)) }
        func mode(_ name: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: path(name))[.posixPermissions] as? NSNumber)?.intValue ?? -1
        }
    }

    @Test func contentLandsAndReplacesAtomically() throws {
        let scratch = try Scratch()
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try AtomicFile.write(payload, to: scratch.path("out.bin"))
        #expect(try scratch.read("out.bin") == payload)
        #expect(try scratch.mode("out.bin") == 0o644)
        try AtomicFile.write([1, 2, 3], to: scratch.path("out.bin"))
        #expect(try scratch.read("out.bin") == [1, 2, 3])
        try AtomicFile.write([], to: scratch.path("empty.bin"))
        #expect(try scratch.read("empty.bin") == [])
        #expect(try scratch.entries() == ["empty.bin", "out.bin"])  // no temporary file left
    }

    @Test func replacedFileKeepsItsPermissions() throws {
        let scratch = try Scratch()
        try scratch.create("private.bin", [9])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: scratch.path("private.bin"))
        try AtomicFile.write([7, 7], to: scratch.path("private.bin"))
        #expect(try scratch.read("private.bin") == [7, 7])
        #expect(try scratch.mode("private.bin") == 0o600)
    }

    @Test func refusesToOverwriteAnInput() throws {
        let scratch = try Scratch()
        let input = scratch.path("model.pth")
        try scratch.create("model.pth", [1, 2, 3, 4])
        try FileManager.default.createSymbolicLink(atPath: scratch.path("link.pth"), withDestinationPath: input)
        try FileManager.default.linkItem(atPath: input, toPath: scratch.path("hardlink.pth"))
        try FileManager.default.createDirectory(atPath: scratch.path("sub"), withIntermediateDirectories: false)
        let aliases = [input, scratch.path("link.pth"), scratch.path("hardlink.pth"),
                       scratch.url.path + "/./model.pth", scratch.url.path + "/sub/../model.pth"]
        for destination in aliases {
            #expect(throws: AtomicFileError.destinationIsInput(destination: destination, input: input), "\(destination)") {
                try AtomicFile.write([0xFF], to: destination, refusingToOverwrite: ["/nonexistent/other", input])
            }
        }
        #expect(try scratch.read("model.pth") == [1, 2, 3, 4])
        #expect(try scratch.entries() == ["hardlink.pth", "link.pth", "model.pth", "sub"])
        // An input that does not exist yet still may not be the destination.
        #expect(throws: AtomicFileError.self) {
            try AtomicFile.write([0], to: scratch.path("new.bin"), refusingToOverwrite: [scratch.url.path + "/sub/../new.bin"])
        }
        // A different file is fine.
        try AtomicFile.write([5], to: scratch.path("model.wren"), refusingToOverwrite: [input])
        #expect(try scratch.read("model.wren") == [5])
    }

    @Test func missingDirectoryFailsClearlyAndLeavesNothing() throws {
        let scratch = try Scratch()
        let destination = scratch.path("missing/out.wren")
        let error = #expect(throws: AtomicFileError.self) { try AtomicFile.write([1, 2], to: destination) }
        #expect(error == .directoryMissing(directory: scratch.path("missing"), destination: destination))
        #expect(error?.description == "cannot write '\(destination)': directory '\(scratch.path("missing"))' does not exist")
        #expect(try scratch.entries() == [])
    }

    @Test func parentThatIsAFileFails() throws {
        let scratch = try Scratch()
        try scratch.create("plain", [0])
        #expect(throws: AtomicFileError.notADirectory(directory: scratch.path("plain"), destination: scratch.path("plain/out"))) {
            try AtomicFile.write([1], to: scratch.path("plain/out"))
        }
        #expect(try scratch.entries() == ["plain"])
    }

    @Test func destinationThatIsADirectoryFailsAndCleansUp() throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(atPath: scratch.path("taken"), withIntermediateDirectories: false)
        let error = #expect(throws: AtomicFileError.self) { try AtomicFile.write([1, 2, 3], to: scratch.path("taken")) }
        guard case .renameFailed(let destination, _)? = error else {
            Issue.record("expected renameFailed, got \(String(describing: error))")
            return
        }
        #expect(destination == scratch.path("taken"))
        #expect(try scratch.entries() == ["taken"])  // the temporary file was removed
    }

    /// /proc exists but no file can be created in it, even by root (directory permissions would not stop root).
    @Test func directoryRefusingNewFilesFails() throws {
        let error = #expect(throws: AtomicFileError.self) { try AtomicFile.write([1], to: "/proc/wren-atomic-test.bin") }
        guard case .cannotCreateTemporaryFile(let directory, let reason)? = error else {
            Issue.record("expected cannotCreateTemporaryFile, got \(String(describing: error))")
            return
        }
        #expect(directory == "/proc")
        #expect(!reason.isEmpty)
    }

    @Test func emptyPathIsRefused() {
        #expect(throws: AtomicFileError.emptyPath) { try AtomicFile.write([1], to: "") }
    }
}
