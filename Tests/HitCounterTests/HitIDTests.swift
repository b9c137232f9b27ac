import HitCounter
import TestSupport
import Testing

/// Hits with ids: a `(key, id)` counts once within the dedup period, on both stores, and `unique`
/// reads count the distinct ids counted in a window.
@Suite struct HitIDTests {
    static let now: Int64 = 1_800_000_030

    @Test(arguments: StoreKind.allCases)
    func anIDCountsOncePerKey(_ kind: StoreKind) async throws {
        try await withCounter(kind) { counter in
            let counted = [
                try await counter.hit(key: "page", count: 3, id: "r-1", at: Self.now).counted,
                try await counter.hit(key: "page", count: 3, id: "r-1", at: Self.now).counted,  // a retry
                try await counter.hit(key: "page", count: 1, id: "r-1", at: Self.now + 5).counted,  // later, another count
                try await counter.hit(key: "page", id: "r-2", at: Self.now + 5).counted,
                try await counter.hit(key: "other", id: "r-1", at: Self.now + 5).counted,  // ids are per key
                try await counter.hit(key: "page", count: 2, id: nil, at: Self.now + 6).counted,  // no id: always counts
            ]
            #expect(counted == [true, false, false, true, true, true])

            #expect(try await counter.hits(key: "page", range: 60, at: Self.now + 10) == 3 + 1 + 2)
            #expect(try await counter.hits(key: "page", range: 60, unique: true, at: Self.now + 10) == 2)
            #expect(try await counter.hits(key: "page", range: 5, unique: true, at: Self.now + 5) == 1, "r-1 counted at now, outside")
            #expect(try await counter.hits(key: "other", range: 60, unique: true, at: Self.now + 10) == 1)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentCopiesOfOneIDCountOnce(_ kind: StoreKind) async throws {
        try await withCounter(kind) { counter in
            let counted = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<200 {
                    // 20 ids, each sent 10 times at once, among hits without ids.
                    group.addTask { try await counter.hit(key: "burst", id: HitID("id-\(index % 20)"), at: Self.now).counted }
                    group.addTask { try await counter.hit(key: "burst", count: 1, id: nil, at: Self.now).counted }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(counted == 20 + 200)
            #expect(try await counter.hits(key: "burst", range: 60, at: Self.now) == 220)
            #expect(try await counter.hits(key: "burst", range: 60, unique: true, at: Self.now) == 20)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func anIDCountsAgainAfterTheDedupPeriod(_ kind: StoreKind) async throws {
        // A period of 8 s: the retry must come within it even at a sanitizer's busiest (AddressSanitizer
        // once took over 3 s between two hits while the whole suite started).
        try await withCounter(kind, maxRange: 1, dedupPeriod: 8) { counter in
            let first = try await counter.hit(key: "k", id: "again", at: Self.now).counted
            let retry = try await counter.hit(key: "k", id: "again", at: Self.now).counted
            try await Task.sleep(for: .milliseconds(8200))
            let afterThePeriod = try await counter.hit(key: "k", id: "again", at: Self.now).counted
            #expect([first, retry, afterThePeriod] == [true, false, true])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func refusesBadIDs(_ kind: StoreKind) async throws {
        try await withCounter(kind) { counter in
            let empty = await #expect(throws: HitCounterError.self) { try await counter.hit(id: HitID(bytes: [])) }
            #expect(empty?.message == "id must be 1 to 200 bytes")
            let long = await #expect(throws: HitCounterError.self) { try await counter.hit(id: HitID(String(repeating: "x", count: 201))) }
            #expect(long?.argument == .id)
        }
    }

    /// Three replicas on one Redis, a client retrying through each: counted once, and the dedup key
    /// expires after the period.
    @Test func threeReplicasAndRetriesCountAnIDOnce() async throws {
        try await withRedisServer { redis in
            let replicas = (0..<3).map { _ in RedisHitStore(configuration: redis.configuration, dedupPeriod: 90_000) }
            defer { replicas.forEach { $0.shutdown() } }
            let receipts = try await withThrowingTaskGroup(of: HitReceipt.self) { group in
                for attempt in 0..<30 {
                    group.addTask {
                        try await HitCounter(store: replicas[attempt % 3]).hit(key: "checkout", count: 1, id: "order-42")
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(receipts.filter(\.counted).count == 1)
            for replica in replicas {
                #expect(try await replica.hits(key: "checkout", range: 60, at: nil) == 1)
                #expect(try await replica.hits(key: "checkout", range: 60, unique: true, at: nil) == 1)
            }
            let ttl = try #require(Int(try redis.cli(["TTL", "hc:{checkout}:id:order-42"])))
            #expect((89_990...90_000).contains(ttl))
        }
    }
}
