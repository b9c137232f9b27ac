/// An option the run cannot start with: `--url http://10.0.0.1:8080 is not a loopback address (pass --allow-remote to allow it)`.
struct LoadOptionsError: Error, CustomStringConvertible, Equatable {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
