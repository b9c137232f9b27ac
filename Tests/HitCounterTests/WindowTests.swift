import HitCounter
import PropertyBased
import Testing

/// The window rule, with driven time: a hit at second t is counted by `range = r` at `now` exactly
/// when `now - r < t <= now`.
@Suite struct WindowTests {
    /// One second before an hour boundary, so windows cross seconds, minutes and hours.
    static let now: Int64 = 1_700_000_000 - 1_700_000_000 % 3600 + 3599

    /// The rule itself, summed over the hits by brute force.
    static func expected(_ hits: [(second: Int64, count: Int)], now: Int64, range: Int) -> Int64 {
        hits.filter { now - Int64(range) < $0.second && $0.second <= now }.reduce(0) { $0 + Int64($1.count) }
    }

    @Test(arguments: StoreKind.allCases)
    func countsExactlyAtTheEdges(kind: StoreKind) async throws {
        try await withCounter(kind) { counter in
            for range in [1, 2, 59, 60, 61, 119, 3599, 3600, 3601, 7261, 86_399, 86_400] {
                let key = CounterKey("edge-\(range)")
                let r = Int64(range)
                // Just outside, the oldest second inside, the current second, and the future.
                let hits: [(second: Int64, count: Int)] = [(Self.now - r, 1), (Self.now - r + 1, 10), (Self.now, 100), (Self.now + 1, 1000)]
                for hit in hits {
                    try await counter.hit(key: key, count: hit.count, at: hit.second)
                }
                #expect(try await counter.hits(key: key, range: range, at: Self.now) == 110, "range \(range)")
                for now in [Self.now - r, Self.now - r + 1, Self.now - 1, Self.now, Self.now + 1, Self.now + r, Self.now + r + 1] {
                    let counted = try await counter.hits(key: key, range: range, at: now)
                    #expect(counted == Self.expected(hits, now: now, range: range), "range \(range) at now \(now)")
                }
            }
        }
    }

    /// Random hits over three days, read at random moments with random ranges, against brute force.
    /// Exercises every way a window can be cut into seconds, minutes, hours and days. The longest window
    /// is four days, so nothing here is old enough to be dropped.
    @Test(arguments: StoreKind.allCases)
    func matchesBruteForceOnRandomHits(kind: StoreKind) async throws {
        // A fixed seed, so a failing schedule can be replayed.
        var random = Xoshiro(seed: (20_261_121, 1, 2, 3))
        let start = Self.now - 86_400
        var hits: [(second: Int64, count: Int)] = []
        for _ in 0..<1500 {
            // Half the hits cluster in a few minutes, so buckets hold several hits.
            let second = Bool.random(using: &random)
                ? start + Int64.random(in: 0..<(3 * 86_400), using: &random)
                : Self.now - Int64.random(in: 0..<300, using: &random)
            hits.append((second, Int.random(in: 1...50, using: &random)))
        }
        let maxRange = 4 * 86_400
        try await withCounter(kind, maxRange: maxRange) { counter in
            for hit in hits {
                try await counter.hit(key: "random", count: hit.count, at: hit.second)
            }
            let ranges = [1, 60, 3600, 86_400, maxRange] + (0..<150).map { _ in Int.random(in: 1...maxRange, using: &random) }
            for range in ranges {
                let now = start + Int64.random(in: 0..<(3 * 86_400), using: &random)
                #expect(
                    try await counter.hits(key: "random", range: range, at: now) == Self.expected(hits, now: now, range: range),
                    "range \(range) at now \(now)"
                )
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func keysDoNotMix(kind: StoreKind) async throws {
        let keys: [CounterKey] = [
            "a", "b", "a}", "{a}", "a:1:60", "default", "ünïcödé ✓", CounterKey(bytes: [0, 255, 123, 125, 13, 10]),
        ]
        try await withCounter(kind) { counter in
            for (index, key) in keys.enumerated() {
                try await counter.hit(key: key, count: index + 1, at: Self.now)
            }
            for (index, key) in keys.enumerated() {
                #expect(try await counter.hits(key: key, range: 60, at: Self.now) == Int64(index + 1), "\(key)")
            }
            #expect(try await counter.hits(key: "never-hit", range: 86_400, at: Self.now) == 0)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func refusesArgumentsOutOfBounds(kind: StoreKind) async throws {
        try await withCounter(kind, maxRange: 3600) { counter in
            await #expect(throws: HitCounterError.self) { try await counter.hit(key: CounterKey(bytes: []), count: 1) }
            await #expect(throws: HitCounterError.self) { try await counter.hit(key: "a", count: 0) }
            await #expect(throws: HitCounterError.self) { try await counter.hit(key: "a", count: 1, at: -1) }
            await #expect(throws: HitCounterError.self) { try await counter.hits(key: "a", range: 0) }
            await #expect(throws: HitCounterError.self) { try await counter.hits(key: "a", range: 3601) }
            let longestWindow = try await counter.hits(key: "a", range: 3600)
            #expect(longestWindow == 0)
        }
    }

    /// Many tasks hitting a few keys at once: every hit counted, none twice.
    @Test(arguments: StoreKind.allCases)
    func concurrentHitsAreAllCounted(kind: StoreKind) async throws {
        try await withCounter(kind) { counter in
            let tasks = 64
            let hitsPerTask = 100
            let totals = try await withThrowingTaskGroup(of: [Int].self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var sent = [Int](repeating: 0, count: 4)
                        for hit in 0..<hitsPerTask {
                            let key = (task + hit) % 4
                            let count = 1 + (task * hit) % 3
                            try await counter.hit(key: CounterKey("concurrent-\(key)"), count: count, at: Self.now)
                            sent[key] += count
                        }
                        return sent
                    }
                }
                return try await group.reduce(into: [Int](repeating: 0, count: 4)) { totals, sent in
                    for key in 0..<4 { totals[key] += sent[key] }
                }
            }
            for key in 0..<4 {
                #expect(try await counter.hits(key: CounterKey("concurrent-\(key)"), range: 60, at: Self.now) == Int64(totals[key]))
            }
        }
    }
}
