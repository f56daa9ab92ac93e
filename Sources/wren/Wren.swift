import ArgumentParser

@main
struct Wren: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wren",
        abstract: "Convert trained Wide Residual Networks to compact int8 .wren files and run them.",
        discussion: reflowed("""
            A typical session:
              wren convert model.pth -o model.wren --calibration samples.npy --class-names labels.txt
              wren inspect model.wren
              wren run model.wren photo.jpg --top 3
              wren run model.wren test_x.npy --reference model.pth --labels test_y.npy
            """),
        version: wrenVersion,
        subcommands: [Convert.self, Run.self, Inspect.self, Bench.self, Validate.self, Train.self])
}

/// What `wren --version` prints and what `wren convert` records as the producer.
let wrenVersion = "0.1.0"
