import ArgumentParser

@main
struct LoadCommand: AsyncParsableCommand {
    func run() async throws {}
}
