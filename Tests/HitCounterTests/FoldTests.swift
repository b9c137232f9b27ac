@testable import HitCounter
import PropertyBased
import TestSupport
import Testing

/// The fold on a real Redis (docs/fold.md), with today's store as the oracle: it writes every level at
/// hit time, so the minute and hour units it leaves are what a fold of its seconds must give back once
/// they are taken away. A minute folded twice, folds cut short and minutes folded out of order leave the
/// same units.
@Suite struct FoldTests {
    static let hour: Int64 = 1_800_000_000 - 1_800_000_000 % 3600

    /// Random hits, with ids for some, on a few counters over the first `minutes` minutes of an hour.
    static func hit(_ store: RedisHitStore, minutes: Int64, seed: UInt64) async throws -> [CounterKey] {
        var random = Xoshiro(seed: (seed, 60, 3600, 27))
        let keys: [CounterKey] = ["a", "b", "c", "d%}"]
        for _ in 0..<300 {
            let second = Self.hour + Int64.random(in: 0..<(minutes * 60), using: &random)
            let key = keys[Int.random(in: 0..<keys.count, using: &random)]
            let id = Bool.random(using: &random) ? HitID("id-\(Int.random(in: 0..<100, using: &random))") : nil
            _ = try await store.hit(key: key, count: Int.random(in: 1...3, using: &random), id: id, callback: nil, at: second)
        }
        return keys
    }

    /// Every minute and hour bucket, by name, with its bytes.
    static func coarseBuckets(_ redis: RedisServer) throws -> [String: String] {
        let names = try redis.cli(["KEYS", "hc:{*}*:[mh]:*"]).split(separator: "\n").map(String.init)
        return Dictionary(uniqueKeysWithValues: try names.map { ($0, try redis.cli(["GET", $0])) })
    }

    /// Folds `minutes` (in that order) for `keys`, `perCall` counters a call; answers each minute's sums.
    static func fold(
        _ store: RedisHitStore, _ keys: [CounterKey], minutes: [Int64], perCall: Int = 64
    ) async throws -> [Int64: [CounterKey: (hits: Int64, unique: Int64)]] {
        var sums: [Int64: [CounterKey: (hits: Int64, unique: Int64)]] = [:]
        for minute in minutes {
            for start in stride(from: 0, to: keys.count, by: perCall) {
                let batch = Array(keys[start..<min(start + perCall, keys.count)])
                let reply = try await store.client.run(FoldScript(
                    keys: store.keys, counters: batch, minute: minute, second: minute + 62, maxRange: store.maxRange, topKeys: true
                ))
                for (key, result) in zip(batch, reply) { sums[minute, default: [:]][key] = try result.get() }
            }
        }
        return sums
    }

    @Test func aFoldGivesBackTheMinutesAndHoursTheHitsWrote() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let keys = try await Self.hit(store, minutes: 10, seed: 1)
            let written = try Self.coarseBuckets(redis)
            let hourSet = try redis.cli(["ZRANGE", "hc:top:h:\(Self.hour)", "0", "-1", "WITHSCORES"])
            #expect(!written.isEmpty)
            _ = try redis.cli(["DEL"] + Array(written.keys))
            _ = try redis.cli(["DEL", "hc:top:h:\(Self.hour)"])

            let minutes = (0..<10).map { Self.hour + 60 * Int64($0) }
            let sums = try await Self.fold(store, keys, minutes: minutes)
            #expect(try Self.coarseBuckets(redis) == written)
            #expect(try redis.cli(["ZRANGE", "hc:top:h:\(Self.hour)", "0", "-1", "WITHSCORES"]) == hourSet)
            // What the fold answers is each minute's count, as the roll-up's events carry it.
            for minute in minutes {
                for key in keys {
                    let hits = try await store.hits(key: key, range: 60, at: minute + 59)
                    let unique = try await store.hits(key: key, range: 60, unique: true, at: minute + 59)
                    #expect(sums[minute]?[key]?.hits == hits, "\(key) at \(minute)")
                    #expect(sums[minute]?[key]?.unique == unique, "\(key) at \(minute)")
                }
            }
            // Every bucket the fold wrote expires.
            for name in written.keys { #expect(try Int(redis.cli(["TTL", name])) ?? -1 > 0, "\(name)") }
        }
    }

    @Test func foldsRepeatedCutShortOrOutOfOrderLeaveTheSameUnits() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let keys = try await Self.hit(store, minutes: 6, seed: 2)
            let written = try Self.coarseBuckets(redis)
            let minutes = (0..<6).map { Self.hour + 60 * Int64($0) }

            // Twice over, whole.
            _ = try redis.cli(["DEL"] + Array(written.keys))
            _ = try await Self.fold(store, keys, minutes: minutes)
            _ = try await Self.fold(store, keys, minutes: minutes)
            #expect(try Self.coarseBuckets(redis) == written)

            // Cut short (half the counters of each minute, then a fold of the minute from its start), and in
            // reverse order.
            _ = try redis.cli(["DEL"] + Array(written.keys))
            for minute in minutes.reversed() {
                _ = try await Self.fold(store, Array(keys.prefix(2)), minutes: [minute], perCall: 1)
                _ = try await Self.fold(store, keys, minutes: [minute], perCall: 3)
            }
            #expect(try Self.coarseBuckets(redis) == written)
        }
    }

    /// A counter with a key of another type answers its error and leaves nothing; the others fold.
    @Test func aCounterWithAKeyOfAnotherTypeFailsAloneAndLeavesNothing() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            try await store.hit(key: "good", count: 2, at: Self.hour + 5)
            try await store.hit(key: "bad", count: 3, at: Self.hour + 5)
            let written = try Self.coarseBuckets(redis)
            _ = try redis.cli(["DEL"] + Array(written.keys))
            _ = try redis.cli(["DEL", "hc:top:h:\(Self.hour)"])
            let badMinutes = "hc:{bad}:m:\(Self.hour)"
            _ = try redis.cli(["SADD", badMinutes, "x"])
            let reply = try await store.client.run(FoldScript(
                keys: store.keys, counters: ["bad", "good"], minute: Self.hour, second: Self.hour + 62, maxRange: store.maxRange, topKeys: true
            ))
            #expect(throws: RedisError.self) { try reply[0].get() }
            #expect(try reply[1].get() == (hits: 2, unique: 0))
            #expect(try redis.cli(["EXISTS", "hc:{bad}:h:\(BucketLevel.hours.sliceStart(Self.hour))"]) == "0")
            #expect(try redis.cli(["ZSCORE", "hc:top:h:\(Self.hour)", "bad"]) == "")
            #expect(try redis.cli(["ZSCORE", "hc:top:h:\(Self.hour)", "good"]) == "2")
        }
    }
}
