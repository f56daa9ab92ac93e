// TEMPORARY dev check (deleted before hand-off): loads scratch checkpoints from /tmp/imp.
import Foundation
import Testing
import WrenConvert

@Suite struct ImportScratchTests {
    @Test(arguments: ["train_sgd", "train_adam_p4", "wrn28_10", "train"])
    func scratch(name: String) throws {
        let start = Date()
        let checkpoint = try CheckpointLoader.load(path: "/tmp/imp/\(name).pth")
        print("\(name): \(checkpoint.tensors.count) tensors in \(Date().timeIntervalSince(start)) s, sha \(checkpoint.sha256)")
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: "/tmp/imp/\(name).json")) else { return }
        let expected = try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
        var floats = 0
        for (key, info) in expected {
            guard info["float"] as! Bool else { #expect(checkpoint.tensors[key] == nil); continue }
            floats += 1
            let tensor = try #require(checkpoint.tensors[key])
            #expect(tensor.shape == info["shape"] as! [Int])
            let sum = tensor.data.reduce(0.0) { $0 + Double($1) }
            let want = info["sum"] as! Double
            #expect(abs(sum - want) <= 1e-5 * max(abs(want), 1e-3), "\(key)")
        }
        #expect(floats == checkpoint.tensors.count)
    }
    @Test func dtypes() {
        #expect(throws: ImportError.self) { try CheckpointLoader.load(path: "/tmp/imp/dt.pth") }
        do { _ = try CheckpointLoader.load(path: "/tmp/imp/dt.pth") } catch { print("dt.pth: \(error)") }
        do { _ = try CheckpointLoader.load(path: "/tmp/imp/legacy.pth") } catch { print("legacy.pth: \(error)") }
    }
}
@Suite struct ImportScratchTimingTests {
    @Test func timing() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: "/tmp/imp/wrn28_10.pth"))
        var start = Date()
        let bytes = [UInt8](data)
        print("copy: \(Date().timeIntervalSince(start))")
        start = Date()
        _ = sha256Hex(bytes)
        print("sha: \(Date().timeIntervalSince(start))")
        start = Date()
        _ = try CheckpointLoader.load(path: "/tmp/imp/wrn28_10.pth")
        print("load: \(Date().timeIntervalSince(start))")
    }
}
