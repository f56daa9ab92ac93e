#if canImport(Glibc) && !hasFeature(Embedded)
import Glibc

extension WrenModel {
    /// Reads a `.wren` file with the C library (no Foundation) and validates it.
    public convenience init(contentsOfFile path: String) throws(WrenError) {
        guard let file = fopen(path, "rb") else {
            throw .invalidInput("cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var info = stat()
        guard fstat(fileno(file), &info) == 0 else {
            throw .invalidInput("cannot stat '\(path)': \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .invalidInput("'\(path)' is not a regular file") }
        let length = Int(info.st_size)
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(length, 1), alignment: WrenFormat.alignment)
        let storage = ModelStorage(adopting: memory, count: length)  // frees the memory on every path
        let read = length == 0 ? 0 : fread(memory, 1, length, file)
        guard read == length else {
            throw .invalidInput("'\(path)': read \(read) of \(length) bytes")
        }
        try self.init(storage: storage)
    }
}
#endif
