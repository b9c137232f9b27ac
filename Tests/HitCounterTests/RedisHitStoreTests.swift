import Foundation
@testable import HitCounter
import NIOCore
import PropertyBased
import TestSupport
import Testing

/// What only the Redis store does: key layout, expiry, one clock, and surviving Redis's faults.
@Suite struct RedisHitStoreTests {
    static let now = WindowTests.now

    @Test func bucketsExpireOnceNoWindowCanReachThem() async throws {
        try await withRedisServer { redis in
            let maxRange = 7200
            let store = RedisHitStore(configuration: redis.configuration, maxRange: maxRange)
            defer { store.shutdown() }
            let second = Self.now - 30  // :29 in its minute
            let minute = second - second % 60
            try await store.hit(key: "ttl", count: 1, at: second)
            func bucket(_ level: BucketLevel) -> String { "hc:{ttl}:\(level.token):\(level.sliceStart(second))" }
            // Each bucket alive until a window of maxRange can no longer reach it.
            func expectLife(_ level: BucketLevel, at now: Int64 = second) throws {
                let expected = level.sliceStart(second) + level.span + Int64(maxRange) - now
                let ttl = try #require(Int64(try redis.cli(["TTL", bucket(level)])))
                // Less by the seconds since the hit: up to 15 under a sanitizer, still short of the 30 s
                // a slice off would make.
                #expect((expected - 15)...expected ~= ttl, "TTL of \(bucket(level))")
            }
            // A hit writes its second; its hour bucket is made, empty, so the counter is listed before the
            // fold (docs/fold.md); the minute bucket waits for the fold.
            try expectLife(.seconds)
            try expectLife(.hours)
            #expect(try redis.cli(["BITFIELD", bucket(.seconds), "GET", "u32", "#\(BucketLevel.seconds.slot(second))"]) == "1")
            #expect(try redis.cli(["STRLEN", bucket(.hours)]) == "0")
            #expect(try redis.cli(["EXISTS", bucket(.minutes)]) == "0")
            // The minute's index of counters, for the roll-up, lives a day past its minute.
            let activeTTL = try #require(Int64(try redis.cli(["TTL", "hc:rollup:keys:\(minute)"])))
            #expect((minute + 60 + 86_400 - second - 15)...(minute + 60 + 86_400 - second) ~= activeTTL)
            #expect(try redis.cli(["ZRANGE", "hc:rollup:keys:\(minute)", "0", "-1"]) == "ttl")
            // Two buckets, the index and the minute's top set (the hour's is the fold's).
            #expect(try redis.cli(["DBSIZE"]) == "4")

            // The fold waits for the minute to close on the counter's Redis.
            await #expect(throws: FoldScript.MinuteNotClosed.self) {
                try await store.client.run(FoldScript(keys: store.keys, counters: ["ttl"], minute: minute, second: minute + 59, maxRange: maxRange))
            }
            #expect(try redis.cli(["EXISTS", bucket(.minutes)]) == "0")
            // Folded: every level holds the hit, each bucket with its life, from the fold's second (which
            // gives the seconds bucket its expiry again, whoever made it).
            _ = try await store.client.run(FoldScript(keys: store.keys, counters: ["ttl"], minute: minute, second: minute + 60, maxRange: maxRange))
            for level in BucketLevel.allCases {
                try expectLife(level, at: minute + 60)
                #expect(try redis.cli(["BITFIELD", bucket(level), "GET", level.counterType, "#\(level.slot(second))"]) == "1")
            }
        }
    }

    /// Memory is bounded by expiry alone (docs/data-model.md): whatever order hits come in, across
    /// minutes and hours, with ids or without, after a counter's hit was undone (a key of another type)
    /// and after a reset, no key the store wrote is left without an expiry. (It caught a cheaper rule
    /// that was tried: a bucket's expiry set only when the unit of the level above was new.)
    @Test func everyBucketExpiresHoweverItWasMade() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration, maxRange: 7200)
            defer { store.shutdown() }
            var random = Xoshiro(seed: (27, 1, 2, 3))
            let first = Self.now - 3 * 3600
            func hitAtRandom(_ hits: Int) async throws {
                for _ in 0..<hits {
                    let second = first + Int64.random(in: 0..<(3 * 3600), using: &random)
                    let key = CounterKey("expiry-\(Int.random(in: 0..<3, using: &random))")
                    let id = Bool.random(using: &random) ? HitID("id-\(UInt64.random(in: 0...UInt64.max, using: &random))") : nil
                    _ = try await store.hit(key: key, count: 1, id: id, callback: nil, at: second)
                }
            }
            func keysWithoutExpiry() throws -> [String] {
                let script = "local left = {} for _, key in ipairs(redis.call('KEYS', 'hc:*')) do if redis.call('TTL', key) == -1 then left[#left + 1] = key end end return left"
                return try redis.cli(["EVAL", script, "0"]).split(separator: "\n").map(String.init)
            }
            try await hitAtRandom(300)
            #expect(try keysWithoutExpiry() == [])

            // A key of another type where a counter's next seconds bucket goes, in an hour it has hits in:
            // its hit there is undone; once the key is gone, the bucket its next hit makes gets its expiry.
            // (Buckets are made only by hits and removed only by expiry or a reset, whole: Redis runs with
            // `noeviction`, docs/deployment.md.)
            let earlier = first + 7 * 60 + 5, second = earlier + 120
            try await store.hit(key: "expiry-9", count: 1, at: earlier)
            let secondsBucket = "hc:{expiry-9}:s:\(BucketLevel.seconds.sliceStart(second))"
            _ = try redis.cli(["SADD", secondsBucket, "x"])
            await #expect(throws: (any Error).self) { try await store.hit(key: "expiry-9", count: 1, at: second) }
            _ = try redis.cli(["DEL", secondsBucket])
            try await store.hit(key: "expiry-9", count: 1, at: second)
            #expect(try keysWithoutExpiry() == [])
            #expect(try await store.hits(key: "expiry-9", range: 3600, at: second) == 2)

            try await store.reset(key: "expiry-0")
            try await hitAtRandom(100)
            #expect(try keysWithoutExpiry() == [])
        }
    }

    @Test func bucketsReallyDisappear() async throws {
        try await withRedisServer { redis in
            // maxRange 5 and a hit on the last second of its minute: the seconds bucket lives 6 s (long
            // enough to be seen under a sanitizer's slowdown, short enough to wait for).
            let store = RedisHitStore(configuration: redis.configuration, maxRange: 5)
            defer { store.shutdown() }
            let second = Self.now
            try await store.hit(key: "gone", count: 1, at: second)
            let key = "hc:{gone}:s:\(second - second % 60)"
            #expect(try redis.cli(["EXISTS", key]) == "1")
            try await Task.sleep(for: .milliseconds(6600))
            #expect(try redis.cli(["EXISTS", key]) == "0")
        }
    }

    /// The second of a hit and the now of a read come from Redis's TIME: two replicas agree.
    @Test func twoReplicasOnOneRedisAgree() async throws {
        try await withRedisServer { redis in
            let replicas = (0..<2).map { _ in RedisHitStore(configuration: redis.configuration) }
            defer { replicas.forEach { $0.shutdown() } }
            let seconds = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<200 {
                    group.addTask { try await replicas[index % 2].hit(key: "shared", count: 1 + index % 3, at: nil) }
                }
                return try await group.reduce(into: Set<Int64>()) { $0.insert($1) }
            }
            let redisNow = try redis.second()
            #expect(seconds.allSatisfy { abs($0 - redisNow) <= 5 }, "seconds come from Redis's clock")
            let expected = Int64((0..<200).reduce(0) { $0 + 1 + $1 % 3 })
            for replica in replicas {
                #expect(try await replica.hits(key: "shared", range: 60, at: nil) == expected)
            }
        }
    }

    @Test func survivesARedisRestartWithoutBeingRestarted() async throws {
        let redis = try RedisServer()
        try await redis.start()
        var configuration = redis.configuration
        configuration.commandTimeout = .milliseconds(300)
        configuration.connectTimeout = .milliseconds(300)
        let store = RedisHitStore(configuration: configuration)
        defer { store.shutdown() }
        try await store.hit(key: "restart", count: 1, at: Self.now)

        await redis.stop()
        let error = await #expect(throws: RedisError.self) { try await store.hit(key: "restart", count: 1, at: Self.now) }
        #expect(error?.isRetriable == true)

        try await redis.start()
        let back = ContinuousClock.now
        var recovered = false
        while ContinuousClock.now - back < .seconds(2) {
            if (try? await store.hit(key: "restart", count: 1, at: Self.now)) != nil {
                recovered = true
                break
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(recovered, "serves again within 2 s of Redis returning, without a restart")
        // The first hit went with the old server (no persistence); the new one has only the last.
        #expect(try await store.hits(key: "restart", range: 60, at: Self.now) == 1)
        await redis.stop()
    }

    @Test func aStalledRedisTimesOutAndIsUsedAgainAfterwards() async throws {
        try await withRedisServer { redis in
            var configuration = redis.configuration
            configuration.commandTimeout = .milliseconds(200)
            configuration.connectTimeout = .milliseconds(200)
            let store = RedisHitStore(configuration: configuration)
            defer { store.shutdown() }
            _ = try await passEvery50Milliseconds { (try? await store.ping()) == nil ? 0 : 1 }
            try redis.stall(milliseconds: 3000)
            let started = ContinuousClock.now
            let error = await #expect(throws: RedisError.self) { try await store.hit(key: "slow", count: 1, at: nil) }
            #expect(error?.kind == .timeout || error?.kind == .connectionFailed)
            #expect(ContinuousClock.now - started < .milliseconds(2500), "fails at the 200 ms timeout, not after the 3 s stall")
            try await Task.sleep(for: .milliseconds(3200))  // past the stall and the reconnect delay
            // Used again: a hit counts (on a busy machine a call may still miss the 200 ms now and then, so
            // the same store tries until one answers; the id keeps a late first try from counting twice).
            let counted = try await passEvery50Milliseconds {
                (try? await store.hit(key: "slow", count: 1, id: "again", callback: nil, at: Self.now)) == nil ? 0 : 1
            }
            #expect(counted == 1)
            var read: Int64?
            for _ in 0..<200 where read == nil {
                read = try? await store.hits(key: "slow", range: 1, at: Self.now)
                if read == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(read == 1)
        }
    }

    @Test func aFullBacklogIsRefusedAtOnce() async throws {
        try await withRedisServer { redis in
            var configuration = redis.configuration
            configuration.maxPendingCommands = 8
            configuration.commandTimeout = .seconds(10)
            let store = RedisHitStore(configuration: configuration)
            defer { store.shutdown() }
            try await store.ping()
            // A read asks where the fold stands (a GET), once a second at most (docs/fold.md): asked now,
            // so the backlog holds only the 40 reads, unless a busy machine starts them a second later.
            _ = try await store.hits(key: "warm", range: 60, at: nil)
            let asksBefore = try redis.calls(of: "get")
            // Long enough that all 40 are sent while it lasts, even under a sanitizer's slowdown.
            try redis.stall(milliseconds: 3000)
            let results = await withTaskGroup(of: RedisError.Kind?.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        do {
                            _ = try await store.hits(key: CounterKey("backlog-\(index)"), range: 60, at: nil)
                            return nil
                        } catch let error as RedisError {
                            return error.kind
                        } catch {
                            return .protocolError
                        }
                    }
                }
                return await group.reduce(into: [RedisError.Kind?]()) { $0.append($1) }
            }
            // An ask that got a place among the reads (Redis answered it) holds one of the 8.
            let places = 8 - (try redis.calls(of: "get") - asksBefore)
            #expect(results.filter { $0 == nil }.count == places, "as many as the backlog holds are answered")
            #expect(results.filter { $0 == .backlogFull }.count == 40 - places, "the rest are refused, not queued")
        }
    }

    @Test func connectsOverAUnixSocketWithAPasswordAndADatabase() async throws {
        try await withRedisServer(arguments: ["--requirepass", "s3cret"]) { redis in
            let store = RedisHitStore(configuration: try RedisConfiguration(url: "unix://\(redis.socketPath)?db=3&password=s3cret"))
            defer { store.shutdown() }
            try await store.hit(key: "unix", count: 4, at: Self.now)
            #expect(try await store.hits(key: "unix", range: 60, at: Self.now) == 4)
            #expect(try redis.cli(["-n", "3", "DBSIZE"]) == "4", "two buckets, the roll-up index, the minute's top set")
            #expect(try redis.cli(["-n", "0", "DBSIZE"]) == "0")

            let wrong = RedisHitStore(configuration: try RedisConfiguration(url: "redis://:nope@127.0.0.1:\(redis.port)"))
            defer { wrong.shutdown() }
            let error = await #expect(throws: RedisError.self) { try await wrong.ping() }
            #expect(error?.kind == .handshakeFailed)
            #expect(error.map { !"\($0)".contains("nope") } ?? false, "the password is never repeated")
        }
    }

    @Test func reloadsItsScriptsAfterRedisForgetsThem() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            try await store.hit(key: "flush", count: 1, at: Self.now)
            try redis.cli(["SCRIPT", "FLUSH"])
            try await store.hit(key: "flush", count: 2, at: Self.now)
            #expect(try await store.hits(key: "flush", range: 60, at: Self.now) == 3)
        }
    }

    /// A day-long read touches a bounded number of members, whatever the traffic, once the minutes
    /// before the current one are folded (docs/fold.md).
    @Test func aFullDayReadTouchesFewMembers() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let folding = FoldingStore(store)
            for offset in stride(from: Int64(0), to: 86_400, by: 7) {
                try await folding.hit(key: "day", count: 1, at: Self.now - offset)
            }
            try await folding.fold(before: Self.now, on: store.client.eventLoop).get()
            try redis.cli(["CONFIG", "RESETSTAT"])
            #expect(try await store.hits(key: "day", range: 86_400, at: Self.now) == Int64((86_400 + 6) / 7))
            let calls = try redis.calls(of: "getrange")
            #expect(calls >= 1 && calls <= 7, "one GETRANGE per bucket key: \(calls)")
        }
    }
}

extension RedisHitStoreTests {
    /// A full Redis (maxmemory, noeviction) refuses writes with OOM: a passing state, so retriable (503).
    @Test func aFullRedisIsAPassingRefusal() async throws {
        try await withRedisServer(arguments: ["--maxmemory", "1", "--maxmemory-policy", "noeviction"]) { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let error = await #expect(throws: RedisError.self) { try await store.hit(key: "full", count: 1, at: nil) }
            #expect(error?.kind == .refused)
            #expect(error?.isRetriable == true)
            let counted = try await store.hits(key: "full", range: 60, at: nil)
            #expect(counted == 0, "reads still work")
        }
    }
}
