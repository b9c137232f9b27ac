/// Where a sink stands: the minute it is owed, and the last counter key of that minute it has been
/// given (nil when it has none of the minute yet).
public struct RollupCursor: Sendable, Hashable {
    public let minute: Int64
    public let after: [UInt8]?
}
