import CWren
import WrenCore

// wren_run of wren.h (documented there).

@_cdecl("wren_run")
public func wrenRun(
    _ context: OpaquePointer?, _ inputNCHW: UnsafePointer<Float>?, _ batch: Int32, _ logitsOut: UnsafeMutablePointer<Float>?
) -> wren_status {
    withStatus("wren_run") { () throws(CFailure) in
        let handle = try contextHandle(context)
        let runner = handle.pointee.context.takeUnretainedValue()
        let input = try required(inputNCHW, "input_nchw")
        let logits = try required(logitsOut, "logits_out")
        guard batch >= 1 else { throw CFailure(WREN_ERROR_INVALID_BATCH, "batch \(batch) is below 1") }
        guard Int(batch) <= runner.maxBatch else {
            throw CFailure(WREN_ERROR_BATCH_TOO_LARGE, "batch \(batch) exceeds the context's max_batch \(runner.maxBatch)")
        }
        let shape = runner.model.input
        let perImage = shape.channels * shape.height * shape.width
        let values = UnsafeBufferPointer(start: input, count: Int(batch) * perImage)
        try checkFinite(values, channels: shape.channels, height: shape.height, width: shape.width)
        let output = UnsafeMutableBufferPointer(start: logits, count: Int(batch) * runner.model.numClasses)
        try core { () throws(WrenError) in try runner.run(input: values, batch: Int(batch), logits: output) }
        handle.pointee.lastBatch = batch
    }
}

/// Fails with `WREN_ERROR_INPUT_NOT_FINITE` naming the first NaN or infinity by image, channel, row
/// and column. (The runtime rejects them too, but with a generic error; this gives the C caller a
/// status of its own.)
private func checkFinite(_ values: UnsafeBufferPointer<Float>, channels: Int, height: Int, width: Int) throws(CFailure) {
    for index in values.indices where !values[index].isFinite {
        let plane = height * width
        let image = index / (channels * plane)
        let channel = index / plane % channels
        let row = index % plane / width
        let column = index % width
        throw CFailure(
            WREN_ERROR_INPUT_NOT_FINITE,
            "input value \(index) (image \(image), channel \(channel), row \(row), column \(column)) is \(values[index])")
    }
}
