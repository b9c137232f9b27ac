/// The name of a counter.
public struct CounterKey: ByteName {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The counter used when a request names none.
    public static let `default` = CounterKey("default")
}
