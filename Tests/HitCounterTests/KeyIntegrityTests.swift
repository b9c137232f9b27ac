import NIOCore
import PropertyBased
import TestSupport
import Testing

@testable import HitCounter

/// Crafted keys and ids against a real Redis: each counts on its own counter, a call never leaves half
/// a hit behind, and a call planned for the wrong second is planned again, not miscounted.
@Suite struct KeyIntegrityTests {
    static let now = WindowTests.now

    @Test func craftedKeysAndIdsCountOnTheirOwnCounters() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            // The reproduction from the integrity issue: different keys and ids shared a dedup record.
            #expect(try await store.hit(key: "a", count: 1, id: "x}:id:y", callback: nil, at: Self.now).counted)
            #expect(try await store.hit(key: "a}:id:x", count: 1, id: "y", callback: nil, at: Self.now).counted)
            // A key whose bucket was another counter's id record: WRONGTYPE and half a hit before.
            let minute = Self.now - Self.now % 60
            #expect(try await store.hit(key: "b", count: 1, id: HitID("y}:1:\(minute)"), callback: nil, at: Self.now).counted)
            try await store.hit(key: "b}:id:y", count: 2, at: Self.now)
            for (key, hits) in [("a", 1), ("a}:id:x", 1), ("b", 1), ("b}:id:y", 2)] as [(CounterKey, Int64)] {
                #expect(try await store.hits(key: key, range: 60, at: Self.now) == hits, "\(key)")
            }
        }
    }

    /// Any keys and ids, however hostile: each distinct (key, id) counts exactly once, and each
    /// counter holds exactly its own.
    @Test func anyKeysAndIdsCountExactlyOnce() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            try await store.ping()
            var expected: [CounterKey: Int64] = [:]
            var seen = Set<[[UInt8]]>()
            await propertyCheck(count: 200, input: KeySchemaTests.bytes, KeySchemaTests.bytes) { key, id in
                let first = seen.insert([key, id]).inserted
                let receipt = try await store.hit(key: CounterKey(bytes: key), count: 1, id: HitID(bytes: id), callback: nil, at: Self.now)
                #expect(receipt.counted == first, "\(key) / \(id)")
                if first { expected[CounterKey(bytes: key), default: 0] += 1 }
            }
            for (key, hits) in expected {
                #expect(try await store.hits(key: key, range: 60, at: Self.now) == hits, "\(key.bytes)")
                #expect(try await store.hits(key: key, range: 60, unique: true, at: Self.now) == hits)
            }
        }
    }

    /// A key of the wrong type planted where a bucket goes: the call is refused and writes nothing,
    /// not even its id (which would make the retry look counted).
    @Test func aRefusedCallLeavesNothingBehind() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let day = BucketLevel.hours.sliceStart(Self.now)
            try redis.cli(["RPUSH", "hc:{w}:h:\(day)", "planted"])
            let error = await #expect(throws: RedisError.self) {
                try await store.hit(key: "w", count: 1, id: "once", callback: nil, at: Self.now)
            }
            #expect(error?.message.hasPrefix("WRONGTYPE") == true)
            #expect(try redis.cli(["DBSIZE"]) == "1", "only the planted key")
        }
    }

    /// A counter's second near its 32-bit ceiling saturates; when a later write of the same hit fails,
    /// the undo takes away what was really added, so the second holds exactly what it held before.
    @Test func anUndoAfterASaturatedAddRestoresTheUnit() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let minute = BucketLevel.seconds.sliceStart(Self.now)
            let slot = "#\(BucketLevel.seconds.slot(Self.now))"
            let ceiling = Int64(UInt32.max)
            try redis.cli(["BITFIELD", "hc:{full}:s:\(minute)", "SET", "u32", slot, "\(ceiling - 2)"])
            try redis.cli(["RPUSH", "hc:{full}:h:\(BucketLevel.hours.sliceStart(Self.now))", "planted"])
            await #expect(throws: RedisError.self) {
                try await store.hit(key: "full", count: 5, at: Self.now)
            }
            let unit = try redis.cli(["BITFIELD", "hc:{full}:s:\(minute)", "GET", "u32", slot])
            #expect(unit == "\(ceiling - 2)", "saturated by 2, undone by 2")
        }
    }

    /// This replica's guess of Redis's clock is two minutes off: the first plan is refused without a
    /// write, the next one counts once, at Redis's second.
    @Test func aCallPlannedForTheWrongMinuteIsPlannedAgain() async throws {
        try await withRedisServer { redis in
            let client = RedisClient(configuration: redis.configuration)
            let store = RedisHitStore(
                client: client, maxRange: 86_400, dedupPeriod: 86_400, keys: KeySchema(), clock: RedisClock(offset: -120_000_000),
                logger: .init(label: "test")
            )
            defer { store.shutdown() }
            let second = try await store.hit(key: "skew", count: 3, at: nil)
            let redisNow = try redis.second()
            #expect(abs(second - redisNow) <= 5, "counted at Redis's second")
            #expect(try await store.hits(key: "skew", range: 60, at: nil) == 3)
            #expect(try await store.hits(key: "skew", range: 60, at: second) == 3)
            // What the first plan wrote in the wrong minute's keys (plain commands count before Redis's
            // `TIME` is known) was taken back, and nothing it made is left without an expiry.
            for key in try redis.cli(["KEYS", "*"]).split(whereSeparator: \.isNewline).map(String.init) {
                #expect(try redis.cli(["TTL", key]) != "-1", "\(key) has no expiry")
            }
        }
    }

    /// A hit without ids is plain commands planned for a second, with Redis's `TIME` in the same
    /// transaction. Planned three seconds early, it is moved to Redis's second before it is answered:
    /// the planned unit holds nothing, Redis's the hits (docs/fold.md).
    @Test func aPlainHitPlannedForTheWrongSecondIsMovedToRedissSecond() async throws {
        try await withRedisServer { redis in
            // Away from a minute's edges, so the planned second lies in Redis's minute.
            while !(8...50).contains(try redis.second() % 60) { try await Task.sleep(for: .milliseconds(200)) }
            let client = RedisClient(configuration: redis.configuration)
            let store = RedisHitStore(
                client: client, maxRange: 86_400, dedupPeriod: 86_400, keys: KeySchema(), clock: RedisClock(offset: -3_000_000),
                logger: .init(label: "test")
            )
            defer { store.shutdown() }
            // Redis's clock read before and after the hit brackets the second it was counted at; the
            // plan was three seconds before the first (bounds that hold however loaded the machine is).
            let before = try redis.second()
            let second = try await store.hit(key: "early", count: 4, at: nil)
            let after = try redis.second()
            #expect(before <= second && second <= after, "answered with Redis's second: \(before) <= \(second) <= \(after)")
            let minute = second - second % 60
            let units = try redis.cli(["BITFIELD", "hc:{early}:s:\(minute)"] + (0..<60).flatMap { ["GET", "u32", "#\($0)"] })
                .split(whereSeparator: \.isNewline).map { Int($0) ?? -1 }
            #expect(units.count == 60)
            #expect(units[Int(second % 60)] == 4, "the hits at Redis's second")
            #expect(units.reduce(0, +) == 4, "and nowhere else: \(units)")
            #expect(try await store.hits(key: "early", range: 1, at: second) == 4)
        }
    }

    /// A hit planned for a minute that closed by Redis's clock is counted there, then taken back and
    /// counted at Redis's second. A fold of that minute run between the two saw it (here Redis is paused
    /// while both wait, so the fold runs right after the count): the minute is folded again, so its unit
    /// holds only the hits that stayed in it (docs/fold.md).
    @Test func aFoldBetweenACountAndItsTakingBackIsUndoneByAFoldAgain() async throws {
        try await withRedisServer { redis in
            // Away from a minute's edges, so the plan two minutes back lies in one minute.
            while !(5...45).contains(try redis.second() % 60) { try await Task.sleep(for: .milliseconds(200)) }
            let planned = BucketLevel.minutes.unitStart(try redis.second()) - 120
            let client = RedisClient(configuration: redis.configuration)
            let store = RedisHitStore(
                client: client, maxRange: 86_400, dedupPeriod: 86_400, keys: KeySchema(), clock: RedisClock(offset: -120_000_000),
                logger: .init(label: "test")
            )
            defer { store.shutdown() }
            let fold = FoldScript(keys: store.keys, counters: ["late"], minute: planned, second: nil, maxRange: 86_400)
            let minuteBucket = store.keys.counter("late").bucket(.hits, .minutes, sliceStart: BucketLevel.minutes.sliceStart(planned))
            func minuteUnit() throws -> String {
                try redis.cli(["BITFIELD", String(decoding: minuteBucket, as: UTF8.self), "GET", BucketLevel.minutes.counterType, "#\(BucketLevel.minutes.slot(planned))"])
            }
            _ = try await store.hit(key: "late", count: 2, at: planned + 10)
            _ = try await client.run(fold)
            #expect(try minuteUnit() == "2")

            _ = try redis.cli(["CLIENT", "PAUSE", "1500", "ALL"])
            async let hit = store.hit(key: "late", count: 5, at: nil)
            try await Task.sleep(for: .milliseconds(500))
            async let folded = client.run(fold)
            let second = try await hit
            _ = try await folded
            #expect(second > planned + 60, "counted at Redis's second, not the plan's")
            #expect(try minuteUnit() == "2", "the minute holds its own two hits, not the five taken back")
            #expect(try await store.hits(key: "late", range: 600, at: nil) == 7)
        }
    }

    @Test func theScriptRefusesAPlanForAnotherMinuteWithoutWriting() async throws {
        try await withRedisServer { redis in
            let client = RedisClient(configuration: redis.configuration)
            defer { client.shutdown() }
            let redisNow = try redis.second()
            let wrongMinute = BucketLevel.minutes.unitStart(redisNow) - 600
            let hit = try await client.run(HitScript(
                keys: KeySchema(), counters: [HitScript.Counter(key: "c", count: 1, ids: [("i", 1)], callbacks: ["http://cb"])],
                minute: wrongMinute, second: nil, maxRange: 60, dedupPeriod: 60
            ))
            #expect(hit.counted == nil)
            #expect(abs(hit.second - redisNow) <= 5)
            #expect(try redis.cli(["DBSIZE"]) == "0")
        }
    }

    /// A read planned for a second Redis is not in is planned again: the store's clock starts two
    /// minutes off, and the first read still counts exactly.
    @Test func aReadPlannedForTheWrongSecondIsPlannedAgain() async throws {
        try await withRedisServer { redis in
            let right = RedisHitStore(configuration: redis.configuration)
            defer { right.shutdown() }
            try await right.hit(key: "skewed-read", count: 4, at: nil)
            let skewed = RedisHitStore(
                client: RedisClient(configuration: redis.configuration), maxRange: 86_400, dedupPeriod: 86_400, keys: KeySchema(),
                clock: RedisClock(offset: 120_000_000), logger: .init(label: "test")
            )
            defer { skewed.shutdown() }
            #expect(try await skewed.hits(key: "skewed-read", range: 60, at: nil) == 4)
        }
    }

    /// Reads from a store whose calls reach Redis late by turns (0.8 s, then at once, then 0.8 s...,
    /// as a loaded machine or a big flight ahead delays some calls and not others), and whose clock
    /// estimate starts two minutes off: every read answers, with the exact count. The estimate runs
    /// ahead of Redis by the last call's delay; replans that chased it missed Redis's second three
    /// times in about half these reads (a 503 while Redis answered). A read now fetches what the
    /// seconds around the estimate need and sums Redis's, and plans again from Redis's own second.
    @Test func readsAnswerWhileRedisIsReachedLateByTurns() async throws {
        try await withRedisServer { redis in
            let writer = RedisHitStore(configuration: redis.configuration)
            defer { writer.shutdown() }
            // Folded, as the roll-up folds a closed minute: reads then take the day from the minute and hour
            // levels as in production, not all 1,440 second buckets of it.
            let folding = FoldingStore(writer)
            try await folding.hit(key: "late", count: 7, at: nil)
            try await folding.fold(before: nil, on: writer.client.eventLoop).get()
            let proxy = try DelayingProxy(to: redis.port, delays: [.zero, .milliseconds(800)])
            // Late, not lost: a call may take 0.8 s and more on a busy machine, within the timeout.
            var configuration = try RedisConfiguration(url: "redis://127.0.0.1:\(proxy.port)")
            configuration.commandTimeout = .seconds(10)
            let reader = RedisHitStore(
                client: RedisClient(configuration: configuration), maxRange: 86_400,
                dedupPeriod: 86_400, keys: KeySchema(), clock: RedisClock(offset: 120_000_000), logger: .init(label: "test")
            )
            defer { reader.shutdown() }
            reader.watermark.set(writer.watermark.current(client: writer.client, keys: writer.keys))
            var failed: [String] = []
            for read in 0..<12 {
                do {
                    if read % 3 == 2 {
                        let top = try await reader.top(range: 3600, limit: 5, at: nil, trace: nil, on: reader.client.eventLoop).get()
                        if top.entries != [TopKeys.Entry(key: "late", hits: 7)] { failed.append("top \(top.entries)") }
                    } else {
                        let hits = try await reader.hits(key: "late", range: 86_400, at: nil)
                        if hits != 7 { failed.append("counted \(hits)") }
                    }
                } catch {
                    failed.append("\(error)")
                }
            }
            #expect(failed.isEmpty, "\(failed.count) of 12 reads failed: \(Set(failed))")
        }
    }

    /// In one call, a counter whose writes fail answers its error and leaves nothing; the others count.
    @Test func aFailingCounterDoesNotFailTheOthersOfItsCall() async throws {
        try await withRedisServer { redis in
            let client = RedisClient(configuration: redis.configuration)
            defer { client.shutdown() }
            let second = Self.now
            let minute = BucketLevel.minutes.unitStart(second)
            try redis.cli(["RPUSH", "hc:{bad}:m:\(BucketLevel.minutes.sliceStart(second))", "planted"])
            let reply = try await client.run(HitScript(
                keys: KeySchema(),
                counters: [
                    HitScript.Counter(key: "good", count: 2, ids: [], callbacks: []),
                    HitScript.Counter(key: "bad", count: 1, ids: [("x", 1)], callbacks: []),
                    HitScript.Counter(key: "also-good", count: 0, ids: [("y", 1)], callbacks: []),
                ],
                minute: minute, second: second, maxRange: 86_400, dedupPeriod: 86_400
            ))
            let counted = try #require(reply.counted)
            #expect((try? counted[0].get()) == [])
            #expect(counted[1].map { _ in false } == .failure(RedisError.replyError(counted[1].failureMessage)))
            #expect((try? counted[2].get()) == [true])
            let store = RedisHitStore(client: client, logger: .init(label: "test"))
            #expect(try await store.hits(key: "good", range: 60, at: second) == 2)
            #expect(try await store.hits(key: "also-good", range: 60, at: second) == 1)
            let bad = try redis.cli(["KEYS", "hc:{bad}*"])
            #expect(bad == "hc:{bad}:m:\(BucketLevel.minutes.sliceStart(second))", "only the planted key: \(bad)")
        }
    }
}

extension Result where Failure == RedisError {
    /// The error's message, for comparing results.
    var failureMessage: String {
        if case .failure(let error) = self { return error.message }
        return ""
    }
}
