import NIOCore
import PropertyBased
import TestSupport
import Testing

@testable import HitCounter

/// Series, several windows at once and top keys, with driven time, against brute force on both
/// stores; and their consistency with `hits` while hits go on.
@Suite struct LiveViewTests {
    static let now = WindowTests.now

    /// Random hits on a few keys over two days, clustered near `now` so minutes and seconds hold several.
    static func randomHits(seed: UInt64, count: Int = 800, keys: Int = 6) -> [(key: CounterKey, second: Int64, count: Int)] {
        var random = Xoshiro(seed: (seed, 7, 11, 13))
        return (0..<count).map { _ in
            let second = Bool.random(using: &random)
                ? Self.now - Int64.random(in: 0..<(2 * 86_400), using: &random)
                : Self.now - Int64.random(in: 0..<400, using: &random)
            return (CounterKey("k\(Int.random(in: 0..<keys, using: &random))"), second, Int.random(in: 1...9, using: &random))
        }
    }

    static func expected(_ hits: [(key: CounterKey, second: Int64, count: Int)], key: CounterKey, from: Int64, through: Int64) -> Int64 {
        hits.filter { $0.key == key && from <= $0.second && $0.second <= through }.reduce(0) { $0 + Int64($1.count) }
    }

    /// Every step aligned, zero-filled, cut at the window's edges, each equal to brute force; the total
    /// is what `hits` answers for the same window.
    @Test(arguments: StoreKind.allCases)
    func seriesMatchBruteForce(kind: StoreKind) async throws {
        let hits = Self.randomHits(seed: 1)
        var random = Xoshiro(seed: (2, 3, 5, 7))
        try await withCounter(kind, maxRange: 2 * 86_400) { counter in
            for hit in hits { try await counter.hit(key: hit.key, count: hit.count, at: hit.second) }
            var cases: [(range: Int, step: Int, now: Int64)] = [
                (310, 60, Self.now), (300, 60, Self.now), (300, 60, Self.now - 30), (60, 1, Self.now), (86_400, 60, Self.now),
                (86_400, 3600, Self.now - 1234), (7, 3, Self.now), (3600, 61, Self.now - 17), (1, 1, Self.now), (100, 1000, Self.now),
            ]
            for _ in 0..<40 {
                let range = Int.random(in: 1...(2 * 86_400), using: &random)
                let step = Int.random(in: max(1, (range + 1439) / 1440)...range, using: &random)
                cases.append((range, step, Self.now - Int64.random(in: 0..<600, using: &random)))
            }
            for (range, step, now) in cases {
                let series = try await counter.series(key: "k1", range: range, step: step, at: now)
                let first = now - Int64(range) + 1
                #expect(series.now == now)
                #expect(series.points.first?.start == first - ((first % Int64(step)) + Int64(step)) % Int64(step), "\(range)/\(step)")
                var expectedStart = series.points.first!.start
                for point in series.points {
                    #expect(point.start == expectedStart, "consecutive, zero-filled: \(range)/\(step)")
                    #expect(point.start % Int64(step) == 0)
                    let from = max(point.start, first), through = min(point.start + Int64(step) - 1, now)
                    #expect(point.partial == (through - from + 1 < Int64(step)), "\(range)/\(step) at \(point.start)")
                    #expect(point.hits == Self.expected(hits, key: "k1", from: from, through: through), "\(range)/\(step) at \(point.start)")
                    expectedStart += Int64(step)
                }
                #expect(series.points.last!.start + Int64(step) > now)
                #expect(series.total == (try await counter.hits(key: "k1", range: range, at: now)), "\(range)/\(step)")
            }
            let empty = try await counter.series(key: "never-hit", range: 600, step: 60, at: Self.now)
            #expect(empty.points.count == 10 && empty.points.allSatisfy { $0.hits == 0 }, "a key never hit is all zeros")
        }
    }

    @Test(arguments: StoreKind.allCases)
    func seriesOfDistinctIds(kind: StoreKind) async throws {
        try await withCounter(kind) { counter in
            for (offset, id, count) in [(0, "a", 1), (0, "a", 1), (5, "b", 1), (70, "c", 1), (70, "d", 3)] as [(Int64, HitID, Int)] {
                _ = try await counter.hit(key: "u", count: count, id: id, at: Self.now - offset)
            }
            let series = try await counter.series(key: "u", range: 120, step: 60, unique: true, at: Self.now)
            #expect(series.points.map(\.hits) == [2, 2])
            #expect(try await counter.series(key: "u", range: 120, step: 60, at: Self.now).points.map(\.hits) == [4, 2])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func severalWindowsInOneRead(kind: StoreKind) async throws {
        let hits = Self.randomHits(seed: 3)
        try await withCounter(kind) { counter in
            for hit in hits { try await counter.hit(key: hit.key, count: hit.count, at: hit.second) }
            let ranges = [1, 60, 3600, 86_400, 61, 7]
            let counts = try await counter.counts(key: "k2", ranges: ranges, at: Self.now)
            #expect(counts.now == Self.now)
            #expect(counts.hits == ranges.map { Self.expected(hits, key: "k2", from: Self.now - Int64($0) + 1, through: Self.now) })
        }
    }

    /// Exact ranking at windows that cut minutes and hours anywhere, ties in key order.
    @Test(arguments: StoreKind.allCases)
    func topKeysMatchBruteForce(kind: StoreKind) async throws {
        let hits = Self.randomHits(seed: 4, count: 1500, keys: 40)
        var random = Xoshiro(seed: (5, 6, 7, 8))
        try await withCounter(kind, maxRange: 2 * 86_400) { counter in
            for hit in hits { try await counter.hit(key: hit.key, count: hit.count, at: hit.second) }
            var cases: [(range: Int, limit: Int, now: Int64)] = [(60, 10, Self.now), (61, 5, Self.now), (3600, 3, Self.now - 29), (86_400, 100, Self.now), (1, 1, Self.now)]
            for _ in 0..<40 {
                cases.append((Int.random(in: 1...(2 * 86_400), using: &random), Int.random(in: 1...45, using: &random), Self.now - Int64.random(in: 0..<500, using: &random)))
            }
            for (range, limit, now) in cases {
                var counts: [CounterKey: Int64] = [:]
                for hit in hits where now - Int64(range) < hit.second && hit.second <= now { counts[hit.key, default: 0] += Int64(hit.count) }
                let expected = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }
                    .prefix(limit).map { TopKeys.Entry(key: $0.key, hits: $0.value) }
                let top = try await counter.top(range: range, limit: limit, at: now)
                #expect(top.entries == expected, "range \(range), limit \(limit), now \(now)")
            }
        }
    }

    /// Hundreds of keys, skewed and tied, so the sets are read deeper than the first depth and the
    /// unseen bound decides: still exactly the brute-force ranking.
    @Test(arguments: [true, false])
    func topKeysAreExactWhenTheSetsAreReadDeep(skewed: Bool) async throws {
        var random = Xoshiro(seed: (9, 9, 9, skewed ? 1 : 2))
        var hits: [(key: CounterKey, second: Int64, count: Int)] = []
        for index in 0..<400 {
            let calls = skewed ? (index < 5 ? 40 : 1 + index % 3) : 3
            for _ in 0..<calls {
                hits.append((CounterKey("key-\(index)"), Self.now - Int64.random(in: 0..<7200, using: &random), skewed ? Int.random(in: 1...4, using: &random) : 2))
            }
        }
        try await withCounter(.redis) { counter in
            for hit in hits { try await counter.hit(key: hit.key, count: hit.count, at: hit.second) }
            for (range, limit, now) in [(3600, 1, Self.now), (3600, 10, Self.now - 31), (7200, 100, Self.now), (1800, 50, Self.now - 1000), (61, 3, Self.now)] {
                var counts: [CounterKey: Int64] = [:]
                for hit in hits where now - Int64(range) < hit.second && hit.second <= now { counts[hit.key, default: 0] += Int64(hit.count) }
                let expected = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }
                    .prefix(limit).map { TopKeys.Entry(key: $0.key, hits: $0.value) }
                #expect(try await counter.top(range: range, limit: limit, at: now).entries == expected, "range \(range), limit \(limit)")
            }
        }
    }

    /// A flood of one-hit keys over two hours beside a few busy ones (what an anonymous client can
    /// make under a public prefix): the cut hours are bounded by their hour sets, the busy keys' edges
    /// read exactly, and the ranking is still brute force's, ties among the one-hit keys included.
    @Test func topKeysAreExactUnderAFloodOfOneHitKeys() async throws {
        var random = Xoshiro(seed: (3, 1, 4, 1))
        var hits: [(key: CounterKey, second: Int64, count: Int)] = []
        for index in 0..<3000 {
            hits.append((CounterKey("junk-\(index)"), Self.now - Int64.random(in: 0..<7200, using: &random), 1))
        }
        for index in 0..<20 {
            for _ in 0..<(200 / (index + 1)) {
                hits.append((CounterKey("real-\(index)"), Self.now - Int64.random(in: 0..<7200, using: &random), 1))
            }
        }
        try await withCounter(.redis) { counter in
            for (second, group) in Dictionary(grouping: hits, by: \.second) {
                _ = try await counter.hit(group.map { Hit(key: $0.key, count: $0.count) }, at: second)
            }
            for (range, limit, now) in [(60, 10, Self.now), (600, 10, Self.now - 7), (3600, 10, Self.now), (3600, 100, Self.now - 1799), (7000, 5, Self.now), (3600, 10, Self.now - 3000)] {
                var counts: [CounterKey: Int64] = [:]
                for hit in hits where now - Int64(range) < hit.second && hit.second <= now { counts[hit.key, default: 0] += Int64(hit.count) }
                let expected = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }
                    .prefix(limit).map { TopKeys.Entry(key: $0.key, hits: $0.value) }
                #expect(try await counter.top(range: range, limit: limit, at: now).entries == expected, "range \(range), limit \(limit), now \(now)")
            }
        }
    }

    /// Live reads count the current minute's set whole; with no hit in flight that is exact too. Hits
    /// at Redis's own seconds, on hundreds of keys, read back at Redis's `now`.
    @Test func liveTopKeysAreExact() async throws {
        try await withCounter(.redis) { counter in
            var hits: [(key: CounterKey, second: Int64, count: Int)] = []
            for index in 0..<300 {
                let key = CounterKey("live-\(index % 150)"), count = 1 + (index * 7) % 5
                hits.append((key, try await counter.hit(key: key, count: count), count))
            }
            for (range, limit) in [(1, 5), (2, 10), (60, 10), (3600, 100), (86_400, 1)] {
                let top = try await counter.top(range: range, limit: limit)
                var counts: [CounterKey: Int64] = [:]
                for hit in hits where top.now - Int64(range) < hit.second && hit.second <= top.now { counts[hit.key, default: 0] += Int64(hit.count) }
                let expected = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }
                    .prefix(limit).map { TopKeys.Entry(key: $0.key, hits: $0.value) }
                #expect(top.entries == expected, "range \(range), limit \(limit)")
            }
        }
    }

    /// A top plan covers every second of the window exactly once (whole sets and the pieces of the units
    /// it cuts);
    /// a live plan's whole sets may reach past `now` (no hit is there yet), never before the window.
    @Test(arguments: [true, false])
    func topPlansCoverTheWindowOnce(live: Bool) {
        var random = Xoshiro(seed: (4, 4, 4, live ? 1 : 2))
        for _ in 0..<300 {
            let now = Self.now - Int64.random(in: 0..<86_400, using: &random)
            let range = Int.random(in: 1...(2 * 86_400), using: &random)
            let plan = TopPlan(WindowPlan(now: now, range: range), live: live)
            let intervals = (plan.whole.map { (first: $0.unitStart, last: $0.unitStart + $0.level.unit - 1, whole: true) }
                + plan.edges.flatMap { $0.pieces.map { (first: $0.first, last: $0.last + $0.level.unit - 1, whole: false) } }).sorted { $0.first < $1.first }
            // An edge's set holds its pieces; a cut hour is read through at most a few minute sets.
            #expect(plan.edges.allSatisfy { edge in edge.pieces.allSatisfy(edge.set.holds) }, "now \(now), range \(range)")
            let minuteSets = Dictionary(grouping: plan.whole.filter { $0.level == .minutes }, by: { BucketLevel.hours.unitStart($0.unitStart) })
            #expect(minuteSets.values.allSatisfy { $0.count <= TopPlan.maxMinuteSets }, "now \(now), range \(range)")
            // Consecutive, without overlap, from the window's first second to its last (or, live, past it).
            #expect(intervals.first?.first == now - Int64(range) + 1, "now \(now), range \(range)")
            #expect(zip(intervals, intervals.dropFirst()).allSatisfy { $1.first == $0.last + 1 }, "now \(now), range \(range)")
            let end = intervals.last?.last ?? 0
            #expect(live ? end >= now && (end == now || intervals.last!.whole) : end == now, "now \(now), range \(range)")
        }
    }

    /// Told not to keep top keys, a store writes no top set (two commands fewer per counter), counts as
    /// before, and `top` says it is off rather than answering nothing.
    @Test func aStoreWithoutTopKeysWritesNoTopSets() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration, keepsTopKeys: false)
            defer { store.shutdown() }
            let counter = HitCounter(store: store)
            try await counter.hit(key: "quiet", count: 2, at: Self.now)
            #expect(try await counter.hits(key: "quiet", range: 60, at: Self.now) == 2)
            #expect(try redis.cli(["KEYS", "hc:top:*"]).isEmpty)
            // The second's bucket, the hour's (made empty for listing; the fold fills it) and the roll-up index.
            #expect(try redis.cli(["DBSIZE"]) == "3")
            await #expect(throws: HitCounter.TopKeysOff.self) { try await counter.top(range: 60) }
        }
    }

    /// Hits go on while the series is read: each total lies between a `hits` read before it and one
    /// after it, and once the hits stop, the series, `hits` and what was sent all agree.
    @Test func aSeriesTotalIsAWindowReadWhileHitsGoOn() async throws {
        try await withCounter(.redis) { counter in
            let sent = try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        var sent = 0
                        for hit in 0..<400 {
                            let count = 1 + (writer + hit) % 3
                            try await counter.hit(key: "busy", count: count, at: Self.now - Int64(hit % 90))
                            sent += count
                        }
                        return sent
                    }
                }
                group.addTask {
                    for _ in 0..<60 {
                        let before = try await counter.hits(key: "busy", range: 120, at: Self.now)
                        let series = try await counter.series(key: "busy", range: 120, step: 7, at: Self.now)
                        let after = try await counter.hits(key: "busy", range: 120, at: Self.now)
                        #expect(before <= series.total && series.total <= after, "\(before) <= \(series.total) <= \(after)")
                    }
                    return 0
                }
                return try await group.reduce(0, +)
            }
            let series = try await counter.series(key: "busy", range: 120, step: 7, at: Self.now)
            #expect(series.total == Int64(sent))
            #expect(try await counter.hits(key: "busy", range: 120, at: Self.now) == Int64(sent))
        }
    }

    @Test(arguments: StoreKind.allCases)
    func refusesBadStepsAndLimits(kind: StoreKind) async throws {
        try await withCounter(kind, maxRange: 86_400) { counter in
            for (range, step) in [(60, 0), (60, -1), (60, 86_401), (86_400, 59), (1441, 1)] {
                let error = await #expect(throws: HitCounterError.self) { try await counter.series(key: "a", range: range, step: step) }
                #expect(error?.argument == .step, "\(range)/\(step)")
            }
            _ = try await counter.series(key: "a", range: 1440, step: 1)
            _ = try await counter.series(key: "a", range: 86_400, step: 60)
            await #expect(throws: HitCounterError.self) { try await counter.series(key: "a", range: 86_401, step: 3600) }
            for limit in [0, -5, 101] {
                let error = await #expect(throws: HitCounterError.self) { try await counter.top(range: 60, limit: limit) }
                #expect(error?.argument == .limit)
            }
            await #expect(throws: HitCounterError.self) { try await counter.top(range: 0) }
            await #expect(throws: HitCounterError.self) { try await counter.counts(key: "a", ranges: [60, 86_401]) }
        }
    }

    /// A counter whose hit fails leaves no score in the top sets; the top sets expire with the buckets.
    @Test func theTopSetsHoldOnlyWhatCountedAndExpire() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration, maxRange: 600)
            defer { store.shutdown() }
            let minute = BucketLevel.minutes.unitStart(Self.now), hour = BucketLevel.hours.unitStart(Self.now)
            try await store.hit(key: "fine", count: 3, at: Self.now)
            try redis.cli(["RPUSH", "hc:{broken}:s:\(minute)", "planted"])
            await #expect(throws: RedisError.self) { try await store.hit(key: "broken", count: 1, at: Self.now) }
            #expect(try redis.cli(["ZRANGE", "hc:top:m:\(minute)", "0", "-1", "WITHSCORES"]) == "fine\n3")
            // The hour's set is the fold's: the counter's folded hits of the hour.
            #expect(try redis.cli(["EXISTS", "hc:top:h:\(hour)"]) == "0")
            _ = try await store.client.run(FoldScript(keys: store.keys, counters: ["fine"], minute: minute, second: minute + 60, maxRange: 600))
            #expect(try redis.cli(["ZRANGE", "hc:top:h:\(hour)", "0", "-1", "WITHSCORES"]) == "fine\n3")
            // The sets' deadlines: each lives while a window of maxRange can reach its unit (a TTL counts down
            // while the test runs: a slow run sees a few seconds less).
            let minuteTTL = try #require(Int64(try redis.cli(["TTL", "hc:top:m:\(minute)"])))
            let hourTTL = try #require(Int64(try redis.cli(["TTL", "hc:top:h:\(hour)"])))
            #expect((minute + 60 + 600 - Self.now - 15)...(minute + 60 + 600 - Self.now) ~= minuteTTL)
            #expect((hour + 3600 + 600 - (minute + 60) - 15)...(hour + 3600 + 600 - (minute + 60)) ~= hourTTL)
            // The minute's set of another type: the hit fails, and nothing of it stays.
            try await store.hit(key: "late", count: 2, at: Self.now - 1)
            let nextHour = hour + 3600
            try redis.cli(["SET", "hc:top:m:\(nextHour)", "planted"])
            await #expect(throws: RedisError.self) { try await store.hit(key: "fine", count: 1, at: nextHour) }
            try redis.cli(["DEL", "hc:top:m:\(nextHour)"])
            #expect(try redis.cli(["BITFIELD", "hc:{fine}:s:\(nextHour)", "GET", "u32", "#0"]) == "0")
            #expect(try redis.cli(["ZRANGE", "hc:rollup:keys:\(nextHour)", "0", "-1"]) == "")
            #expect(try await HitCounter(store: store).top(range: 600, limit: 5, at: nextHour).entries == [TopKeys.Entry(key: "fine", hits: 3), TopKeys.Entry(key: "late", hits: 2)])
        }
    }

    /// The counters of one call add to the top sets only what they counted: a counter adds to the score
    /// it already had, a failed counter and one whose only id was seen before add nothing, and the
    /// others of the call still count.
    @Test func aCallsCountersAddToTheTopSetsOnlyWhatTheyCounted() async throws {
        try await withRedisServer { redis in
            let client = RedisClient(configuration: redis.configuration)
            defer { client.shutdown() }
            let minute = BucketLevel.minutes.unitStart(Self.now), hour = BucketLevel.hours.unitStart(Self.now)
            func call(_ counters: [HitScript.Counter]) async throws -> [Result<[Bool], RedisError>] {
                let reply = try await client.run(HitScript(
                    keys: KeySchema(), counters: counters, minute: minute, second: Self.now, maxRange: 600, dedupPeriod: 600
                ))
                return try #require(reply.counted)
            }
            _ = try await call([.init(key: "old", count: 4, ids: [], callbacks: []), .init(key: "seen", count: 0, ids: [("x", 1)], callbacks: [])])
            try redis.cli(["RPUSH", "hc:{broken}:s:\(minute)", "planted"])
            let outcomes = try await call([
                .init(key: "old", count: 2, ids: [], callbacks: []), .init(key: "broken", count: 5, ids: [], callbacks: []),
                .init(key: "seen", count: 0, ids: [("x", 1)], callbacks: []), .init(key: "new", count: 1, ids: [("y", 2)], callbacks: []),
            ])
            #expect(outcomes.map { (try? $0.get()).map { "\($0)" } ?? "failed" } == ["[]", "failed", "[false]", "[true]"])
            #expect(try redis.cli(["ZRANGE", "hc:top:m:\(minute)", "0", "-1", "WITHSCORES"]) == "seen\n1\nnew\n3\nold\n6")
            #expect(try redis.cli(["EXISTS", "hc:top:h:\(hour)"]) == "0", "the hour's set is the fold's")
        }
    }
}
