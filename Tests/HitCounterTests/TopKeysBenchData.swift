import Foundation
import TestSupport
import Testing

@testable import HitCounter

/// Not a test: the data `bench/top` reads, written through the library at Redis's past seconds, which
/// only a store with driven time can do. Runs when `HITCOUNTER_BENCH_TOP_REDIS` names the bench's Redis:
/// over the hour before Redis's `now`, `HITCOUNTER_BENCH_TOP_FLOOD` (100,000) counters with one hit each,
/// as an anonymous client making a new key per request leaves them, beside 300 counters with skewed
/// traffic (the i-th gets 3000 / i hits), each hit at its own second.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HITCOUNTER_BENCH_TOP_REDIS"] != nil))
struct TopKeysBenchData {
    @Test func anHourOfOneHitCountersBesideBusyOnes() async throws {
        let environment = ProcessInfo.processInfo.environment
        let configuration = try RedisConfiguration(url: try #require(environment["HITCOUNTER_BENCH_TOP_REDIS"]))
        let flood = Int(environment["HITCOUNTER_BENCH_TOP_FLOOD"] ?? "") ?? 100_000
        let store = RedisHitStore(configuration: configuration)
        defer { store.shutdown() }
        let counter = HitCounter(store: store)
        // Redis's second, from a hit on a counter of its own.
        let now = try await counter.hit(key: "bench:clock")
        var perSecond: [Int64: [Hit]] = [:]
        for index in 0..<flood {
            perSecond[now - 3599 + Int64(index % 3600), default: []].append(Hit(key: CounterKey("page:new-\(index)"), count: 1))
        }
        for index in 1...300 {
            for hit in 0..<(3000 / index) {
                perSecond[now - 3599 + Int64((hit * 7919 + index * 31) % 3600), default: []].append(Hit(key: CounterKey("page:busy-\(index)"), count: 1))
            }
        }
        for (second, hits) in perSecond {
            for start in stride(from: 0, to: hits.count, by: 100) {
                _ = try await counter.hit(Array(hits[start..<min(start + 100, hits.count)]), at: second)
            }
        }
    }
}
