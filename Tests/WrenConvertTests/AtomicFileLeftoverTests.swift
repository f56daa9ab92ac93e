import Foundation
import Glibc
import Testing
@testable import WrenConvert

/// What a writer killed mid-write leaves (issue 15, item 7), and destinations a rename must not
/// silently replace.
@Suite struct AtomicFileLeftoverTests {
    typealias Scratch = AtomicFileTests.Scratch

    @Test func leftoverOfAKilledWriterIsRemovedByTheNextWrite() throws {
        let scratch = try Scratch()
        // A killed writer's temporary file: our naming, truncated content, no lock held.
        try scratch.create(".out.bin.tmp-Ab12Cd", [1, 2])
        // Not ours: another destination's, a name mkstemp never makes, and an ordinary file.
        try scratch.create(".other.bin.tmp-Ab12Cd", [3])
        try scratch.create(".out.bin.tmp-toolong1", [4])
        try scratch.create("notes.txt", [5])
        try AtomicFile.write([9, 9, 9], to: scratch.path("out.bin"))
        #expect(try scratch.entries() == [".other.bin.tmp-Ab12Cd", ".out.bin.tmp-toolong1", "notes.txt", "out.bin"])
        #expect(try scratch.read("out.bin") == [9, 9, 9])
    }

    /// A temporary file whose writer is alive (it holds the lock) is left alone.
    @Test func temporaryFileOfALiveWriterIsKept() throws {
        let scratch = try Scratch()
        try scratch.create(".out.bin.tmp-Live01", [1])
        let descriptor = open(scratch.path(".out.bin.tmp-Live01"), O_RDWR)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        try #require(flock(descriptor, LOCK_EX) == 0)
        try AtomicFile.write([7], to: scratch.path("out.bin"))
        #expect(try scratch.entries() == [".out.bin.tmp-Live01", "out.bin"])
    }

    @Test func fifoDestinationIsRefusedAndKept() throws {
        let scratch = try Scratch()
        try #require(mkfifo(scratch.path("pipe.wren"), 0o644) == 0)
        let error = #expect(throws: AtomicFileError.self) { try AtomicFile.write([1], to: scratch.path("pipe.wren")) }
        #expect(error == .notARegularFile(destination: scratch.path("pipe.wren"), kind: "a FIFO"))
        #expect(AtomicFile.specialFileKind(scratch.path("pipe.wren")) == "a FIFO")
        #expect(try scratch.entries() == ["pipe.wren"])
    }

    @Test func linkToADeviceIsRefused() throws {
        let scratch = try Scratch()
        try FileManager.default.createSymbolicLink(atPath: scratch.path("null.npy"), withDestinationPath: "/dev/null")
        let error = #expect(throws: AtomicFileError.self) { try AtomicFile.write([1], to: scratch.path("null.npy")) }
        #expect(error == .notARegularFile(destination: scratch.path("null.npy"), kind: "a character device"))
    }
}
