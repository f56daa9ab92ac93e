#if canImport(Glibc)
import Glibc
#endif
import CWren

/// Reads a whole regular file into aligned memory from `allocateAligned` (the caller frees it),
/// with every failure a `WREN_ERROR_FILE_UNREADABLE` naming the path and the system's reason.
func readFile(_ path: UnsafePointer<CChar>) throws(CFailure) -> (bytes: UnsafeMutableRawPointer, count: Int) {
    let name = String(cString: path)
    func unreadable(_ why: String) -> CFailure { CFailure(WREN_ERROR_FILE_UNREADABLE, "'\(name)': \(why)") }
    func systemReason() -> String { String(cString: strerror(errno)) }

    guard let file = fopen(path, "rb") else { throw unreadable("cannot open: \(systemReason())") }
    defer { fclose(file) }
    var info = stat()
    guard fstat(fileno(file), &info) == 0 else { throw unreadable("cannot stat: \(systemReason())") }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw unreadable("not a regular file") }
    let count = Int(info.st_size)
    let bytes = try allocateAligned(byteCount: count, purpose: "the contents of '\(name)'")
    var done = 0
    while done < count {
        let read = fread(bytes + done, 1, count - done, file)
        if read == 0 {
            let why = ferror(file) != 0 ? systemReason() : "file ended"
            free(bytes)
            throw unreadable("read \(done) of \(count) bytes (\(why))")
        }
        done += read
    }
    return (bytes, count)
}
