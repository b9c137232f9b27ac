import Testing
import HitCounter
import TestSupport

/// The two stores; window tests run against both, so they keep the same semantics.
extension StoreKind: CustomTestStringConvertible {
    public var testDescription: String { self.rawValue }
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
            // Hits write seconds; the roll-up folds minutes and hours (docs/fold.md). Tests drive time and
            // run no roll-up, so each read folds what was hit first.
            try await body(HitCounter(store: FoldingStore(store)))
        }
    }
}
