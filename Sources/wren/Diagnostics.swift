#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress and warnings go to stderr so stdout stays clean for results.
enum Diagnostics {
    static func note(_ text: String) {
        fputs(text + "\n", stderr)
    }

    /// A one-line progress bar redrawn in place when stderr is a terminal, else occasional lines.
    static func progress(_ label: String, _ done: Int, _ total: Int) {
        let interactive = isatty(2) != 0
        let width = 30
        let filled = total > 0 ? done * width / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        if interactive {
            fputs("\r\(label) [\(bar)] \(done)/\(total)" + (done == total ? "\n" : ""), stderr)
        } else if done == total || done % max(1, total / 4) == 0 {
            fputs("\(label) \(done)/\(total)\n", stderr)
        }
    }
}
