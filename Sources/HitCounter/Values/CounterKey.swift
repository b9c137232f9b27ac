/// The name of a counter.
public struct CounterKey: ByteName {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The bytes in one call: the synthesized hash feeds them to the hasher one at a time, which made
    /// dictionary lookups the largest cost of a `/top` read over many candidates (measured with perf).
    public func hash(into hasher: inout Hasher) {
        self.bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    /// The counter used when a request names none.
    public static let `default` = CounterKey("default")
}
