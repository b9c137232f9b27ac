/// One page of the counters a store holds (`HitCounter.keys`), and where the next page starts.
public struct KeyPage: Sendable, Hashable {
    /// Each counter once, in no particular order.
    public let keys: [CounterKey]
    /// The cursor of the next page; nil when this was the last.
    public let next: String?

    public init(keys: [CounterKey], next: String?) {
        self.keys = keys
        self.next = next
    }
}
