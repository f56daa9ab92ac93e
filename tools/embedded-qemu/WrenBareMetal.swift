// The bare-metal entry point into WrenCore, compiled into the same Embedded Swift module as
// Sources/WrenCore (one -wmo compile, as tools/build-embedded.sh does): loads the model from memory
// without copying, plans a batch-1 context in the caller's arena and runs each image in turn.

/// Returns 0 on success; otherwise 1 (a WrenError; its text is not available without a heap-free
/// string path, so the kind is returned in `errorKind`) or 2 (the arena is too small).
@_cdecl("wren_bare_run")
public func wrenBareRun(
    _ model: UnsafeRawPointer, _ length: Int, _ input: UnsafePointer<Float>, _ images: Int,
    _ logits: UnsafeMutablePointer<Float>, _ arena: UnsafeMutableRawPointer, _ arenaCapacity: Int,
    _ arenaUsed: UnsafeMutablePointer<Int>, _ classesOut: UnsafeMutablePointer<Int>
) -> Int32 {
    do throws(WrenError) {
        let loaded = try WrenModel(borrowing: UnsafeRawBufferPointer(start: model, count: length))
        let size = try WrenContext.arenaSize(model: loaded, maxBatch: 1)
        arenaUsed.pointee = size
        classesOut.pointee = loaded.numClasses
        guard size <= arenaCapacity else { return 2 }
        let context = try WrenContext(model: loaded, maxBatch: 1, arena: UnsafeMutableRawBufferPointer(start: arena, count: size))
        let shape = loaded.input
        let perImage = shape.channels * shape.height * shape.width
        let classes = loaded.numClasses
        for image in 0..<images {
            try context.run(
                input: UnsafeBufferPointer(start: input + image * perImage, count: perImage), batch: 1,
                logits: UnsafeMutableBufferPointer(start: logits + image * classes, count: classes))
        }
        return 0
    } catch {
        return 1
    }
}
