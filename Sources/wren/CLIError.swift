/// A failure found while a command runs (not a usage mistake): ArgumentParser prints its
/// description as one `Error:` line and exits 1, without the usage text.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body`, prefixing any error with the file it concerns, so messages say which file is bad.
func about<T>(_ path: String, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as CLIError {
        throw error
    } catch {
        let text = "\(error)"
        throw CLIError(text.contains(path) ? text : "\(path): \(text)")
    }
}
