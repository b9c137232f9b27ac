import Testing
import HitCounter
import TestSupport

/// The two stores; window tests run against both, so they keep the same semantics.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible {
    case memory
    case redis

    var testDescription: String { self.rawValue }
}



/// Runs `body` with a counter on a fresh store of `kind` (for Redis, on its own redis-server).
func withCounter(
    _ kind: StoreKind, maxRange: Int = 86_400, dedupPeriod: Int = 86_400, _ body: (HitCounter) async throws -> Void
) async throws {
    switch kind {
    case .memory:
        try await body(HitCounter(store: MemoryHitStore(maxRange: maxRange, dedupPeriod: dedupPeriod)))
    case .redis:
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration, maxRange: maxRange, dedupPeriod: dedupPeriod)
            defer { store.shutdown() }
            try await body(HitCounter(store: store))
        }
    }
}

/// A seeded generator, so a failing random case can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
