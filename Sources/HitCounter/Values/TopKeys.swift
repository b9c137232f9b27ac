/// The counters with the most hits in a window `now - range < t <= now`, most first (equal counts in
/// the order of their keys' bytes), each with its exact count.
public struct TopKeys: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public let key: CounterKey
        public let hits: Int64

        public init(key: CounterKey, hits: Int64) {
            self.key = key
            self.hits = hits
        }
    }

    /// The second the window ends at.
    public let now: Int64
    public let range: Int
    public let entries: [Entry]

    public init(now: Int64, range: Int, entries: [Entry]) {
        self.now = now
        self.range = range
        self.entries = entries
    }

    /// The first `limit` of `counts` by the ranking above, counters without hits left out.
    static func ranking(_ counts: [CounterKey: Int64], limit: Int) -> [Entry] {
        let ranked = counts.filter { $0.value > 0 }.sorted { left, right in
            left.value != right.value ? left.value > right.value : left.key.bytes.lexicographicallyPrecedes(right.key.bytes)
        }
        return ranked.prefix(limit).map { Entry(key: $0.key, hits: $0.value) }
    }
}

/// Several windows of one counter, all ending at the same second: `hits[i]` is the count of the window
/// of `ranges[i]` seconds.
public struct WindowCounts: Sendable, Hashable {
    public let now: Int64
    public let ranges: [Int]
    public let hits: [Int64]

    public init(now: Int64, ranges: [Int], hits: [Int64]) {
        self.now = now
        self.ranges = ranges
        self.hits = hits
    }
}
