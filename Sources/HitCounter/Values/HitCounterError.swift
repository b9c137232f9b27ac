/// A call the counter refused because an argument is out of bounds.
///
/// The message names the argument and its bounds; the HTTP layer passes it on with a 400.
public struct HitCounterError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Argument: String, Sendable, Hashable {
        case key
        case count
        case id
        case range
        case timestamp
        case step
        case limit
    }

    public let argument: Argument
    public let message: String

    init(_ argument: Argument, _ message: String) {
        self.argument = argument
        self.message = message
    }

    public var description: String { self.message }
}
