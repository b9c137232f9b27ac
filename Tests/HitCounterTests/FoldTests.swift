@testable import HitCounter
import PropertyBased
import TestSupport
import Testing

/// The fold on a real Redis (docs/fold.md): hits write seconds only; a fold of a closed minute sets each
/// counter's minute and hour units to the sums of the units below them, checked against the hits' own
/// brute-force sums. A minute folded twice, folds cut short and minutes folded out of order leave the
/// same units.
@Suite struct FoldTests {
    static let hour: Int64 = 1_800_000_000 - 1_800_000_000 % 3600
    static let keys: [CounterKey] = ["a", "b", "c", "d%}"]

    /// What the hits counted, per counter and second: hits, and ids counted.
    typealias Counted = [CounterKey: [Int64: (hits: Int64, unique: Int64)]]

    /// Random hits, with ids for some, on a few counters over the first `minutes` minutes of the hour.
    static func hit(_ store: RedisHitStore, minutes: Int64, seed: UInt64) async throws -> Counted {
        var random = Xoshiro(seed: (seed, 60, 3600, 27))
        var counted: Counted = [:]
        for _ in 0..<300 {
            let second = Self.hour + Int64.random(in: 0..<(minutes * 60), using: &random)
            let key = Self.keys[Int.random(in: 0..<Self.keys.count, using: &random)]
            let id = Bool.random(using: &random) ? HitID("id-\(Int.random(in: 0..<100, using: &random))") : nil
            let count = Int.random(in: 1...3, using: &random)
            let receipt = try await store.hit(key: key, count: count, id: id, callback: nil, at: second)
            guard receipt.counted else { continue }
            let before = counted[key, default: [:]][second] ?? (0, 0)
            counted[key, default: [:]][second] = (before.hits + Int64(count), before.unique + (id == nil ? 0 : 1))
        }
        return counted
    }

    /// A counter's unit of `level` (minutes or hours) at `unitStart`, as Redis holds it.
    static func unit(_ redis: RedisServer, _ store: RedisHitStore, _ key: CounterKey, _ series: CounterKeys.Series, _ level: BucketLevel, _ unitStart: Int64) throws -> Int64 {
        let bucket = String(decoding: store.keys.counter(key).bucket(series, level, sliceStart: level.sliceStart(unitStart)), as: UTF8.self)
        return Int64(try redis.cli(["BITFIELD", bucket, "GET", level.counterType, "#\(level.slot(unitStart))"])) ?? -1
    }

    /// Every minute and hour bucket, by name, with its bytes.
    static func coarseBuckets(_ redis: RedisServer) throws -> [String: String] {
        let names = try redis.cli(["KEYS", "hc:{*}*:[mh]:*"]).split(separator: "\n").map(String.init)
        return Dictionary(uniqueKeysWithValues: try names.map { ($0, try redis.cli(["GET", $0])) })
    }

    /// Folds `minutes` (in that order) for `keys`, `perCall` counters a call; answers each minute's sums.
    @discardableResult
    static func fold(
        _ store: RedisHitStore, _ keys: [CounterKey], minutes: [Int64], perCall: Int = 64
    ) async throws -> [Int64: [CounterKey: (hits: Int64, unique: Int64)]] {
        var sums: [Int64: [CounterKey: (hits: Int64, unique: Int64)]] = [:]
        for minute in minutes {
            for start in stride(from: 0, to: keys.count, by: perCall) {
                let batch = Array(keys[start..<min(start + perCall, keys.count)])
                let reply = try await store.client.run(FoldScript(
                    keys: store.keys, counters: batch, minute: minute, second: minute + 62, maxRange: store.maxRange
                ))
                for (key, result) in zip(batch, reply) { sums[minute, default: [:]][key] = try result.get() }
            }
        }
        return sums
    }

    /// The units the fold must leave, and what it must answer, from the hits' own sums.
    static func expect(_ redis: RedisServer, _ store: RedisHitStore, _ counted: Counted, minutes: [Int64]) throws {
        for key in Self.keys {
            let seconds = counted[key] ?? [:]
            for minute in minutes {
                let inMinute = seconds.filter { BucketLevel.minutes.unitStart($0.key) == minute }.values
                #expect(try Self.unit(redis, store, key, .hits, .minutes, minute) == inMinute.reduce(0) { $0 + $1.hits }, "\(key) at \(minute)")
                #expect(try Self.unit(redis, store, key, .unique, .minutes, minute) == inMinute.reduce(0) { $0 + $1.unique }, "\(key) at \(minute)")
            }
            let folded = seconds.filter { minutes.contains(BucketLevel.minutes.unitStart($0.key)) }.values
            #expect(try Self.unit(redis, store, key, .hits, .hours, Self.hour) == folded.reduce(0) { $0 + $1.hits }, "\(key)")
            #expect(try Self.unit(redis, store, key, .unique, .hours, Self.hour) == folded.reduce(0) { $0 + $1.unique }, "\(key)")
        }
    }

    @Test func aFoldSumsEachMinuteAndHourFromTheSeconds() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let counted = try await Self.hit(store, minutes: 10, seed: 1)
            #expect(try Self.coarseBuckets(redis).values.allSatisfy(\.isEmpty), "hits write no minute or hour unit")

            let minutes = (0..<10).map { Self.hour + 60 * Int64($0) }
            let sums = try await Self.fold(store, Self.keys, minutes: minutes)
            try Self.expect(redis, store, counted, minutes: minutes)
            // What the fold answers is each minute's count, as the roll-up's events carry it.
            for minute in minutes {
                for key in Self.keys {
                    let inMinute = (counted[key] ?? [:]).filter { BucketLevel.minutes.unitStart($0.key) == minute }.values
                    #expect(sums[minute]?[key]?.hits == inMinute.reduce(0) { $0 + $1.hits }, "\(key) at \(minute)")
                    #expect(sums[minute]?[key]?.unique == inMinute.reduce(0) { $0 + $1.unique }, "\(key) at \(minute)")
                }
            }
            // Every bucket the fold wrote expires.
            for name in try Self.coarseBuckets(redis).keys { #expect(try Int(redis.cli(["TTL", name])) ?? -1 > 0, "\(name)") }
        }
    }

    @Test func foldsRepeatedCutShortOrOutOfOrderLeaveTheSameUnits() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let counted = try await Self.hit(store, minutes: 6, seed: 2)
            let minutes = (0..<6).map { Self.hour + 60 * Int64($0) }
            try await Self.fold(store, Self.keys, minutes: minutes)
            let once = try Self.coarseBuckets(redis)
            try Self.expect(redis, store, counted, minutes: minutes)

            // Twice over, whole.
            try await Self.fold(store, Self.keys, minutes: minutes)
            #expect(try Self.coarseBuckets(redis) == once)

            // Cut short (half the counters of each minute, then a fold of the minute from its start), and in
            // reverse order, from nothing.
            _ = try redis.cli(["DEL"] + Array(once.keys))
            for minute in minutes.reversed() {
                try await Self.fold(store, Array(Self.keys.prefix(2)), minutes: [minute], perCall: 1)
                try await Self.fold(store, Self.keys, minutes: [minute], perCall: 3)
            }
            #expect(try Self.coarseBuckets(redis) == once)
        }
    }

    /// A counter with a key of another type answers its error; the others fold.
    @Test func aCounterWithAKeyOfAnotherTypeFailsAlone() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            try await store.hit(key: "good", count: 2, at: Self.hour + 5)
            try await store.hit(key: "bad", count: 3, at: Self.hour + 5)
            _ = try redis.cli(["SADD", "hc:{bad}:m:\(Self.hour)", "x"])
            let reply = try await store.client.run(FoldScript(
                keys: store.keys, counters: ["bad", "good"], minute: Self.hour, second: Self.hour + 62, maxRange: store.maxRange
            ))
            #expect(throws: RedisError.self) { try reply[0].get() }
            #expect(try reply[1].get() == (hits: 2, unique: 0))
            #expect(try Self.unit(redis, store, "good", .hits, .hours, Self.hour) == 2)
        }
    }
}
