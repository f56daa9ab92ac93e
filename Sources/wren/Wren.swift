import ArgumentParser
@main struct Wren: ParsableCommand {
    func run() throws {}
}
