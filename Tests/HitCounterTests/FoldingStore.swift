@testable import HitCounter
import NIOCore
import Synchronization

/// A Redis store whose hit minutes are folded before every read, as the roll-up folds them in
/// production (docs/fold.md): tests drive time, run no roll-up, and hit minutes in any order, so each
/// read first folds every minute hit since the last one (a fold is idempotent) and plans by the read's
/// own minute as the watermark.
final class FoldingStore: HitStore {
    let store: RedisHitStore
    /// The counters hit since the last fold, by minute.
    private let hitSince = Mutex<[Int64: Set<CounterKey>]>([:])

    init(_ store: RedisHitStore) {
        self.store = store
    }

    var maxRange: Int { self.store.maxRange }
    var dedupPeriod: Int { self.store.dedupPeriod }
    var keepsTopKeys: Bool { self.store.keepsTopKeys }

    private func note(_ key: CounterKey, at second: Int64) {
        self.hitSince.withLock { _ = $0[BucketLevel.minutes.unitStart(second), default: []].insert(key) }
    }

    func hit(key: CounterKey, count: Int, id: HitID?, callback: String?, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<HitReceipt> {
        self.store.hit(key: key, count: count, id: id, callback: callback, at: second, trace: trace, on: eventLoop).map { receipt in
            self.note(key, at: receipt.second)
            return receipt
        }
    }

    func hit(_ hits: [Hit], at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<[HitReceipt]> {
        self.store.hit(hits, at: second, trace: trace, on: eventLoop).map { receipts in
            for (hit, receipt) in zip(hits, receipts) { self.note(hit.key, at: receipt.second) }
            return receipts
        }
    }

    /// Folds what was hit since the last fold, then plans reads at `second` by its minute.
    private func folded<Value>(at second: Int64?, on eventLoop: any EventLoop, _ read: @escaping @Sendable () -> EventLoopFuture<Value>) -> EventLoopFuture<Value> {
        self.fold(before: second, on: eventLoop).flatMap(read)
    }

    /// Folds every minute hit since the last fold that closed before the minute of `second` (the
    /// store's clock when nil), as the roll-up folds only closed minutes, and takes that minute as the
    /// watermark.
    func fold(before second: Int64?, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let watermark = BucketLevel.minutes.unitStart(second ?? self.store.clock.second())
        let minutes = self.hitSince.withLock { hit in
            defer { hit = hit.filter { $0.key >= watermark } }
            return hit.filter { $0.key < watermark }
        }
        let folds = minutes.map { minute, keys in
            self.store.client.run(
                FoldScript(
                    keys: self.store.keys, counters: Array(keys), minute: minute, second: minute + 62, maxRange: self.store.maxRange,
                    topKeys: self.store.keepsTopKeys
                ), on: eventLoop
            ).map { _ in () }
        }
        return EventLoopFuture.andAllSucceed(folds, on: eventLoop).map { self.store.watermark.set(watermark) }
    }

    func hits(key: CounterKey, range: Int, unique: Bool, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<Int64> {
        self.folded(at: second, on: eventLoop) { self.store.hits(key: key, range: range, unique: unique, at: second, trace: trace, on: eventLoop) }
    }

    func counts(key: CounterKey, ranges: [Int], unique: Bool, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<WindowCounts> {
        self.folded(at: second, on: eventLoop) { self.store.counts(key: key, ranges: ranges, unique: unique, at: second, trace: trace, on: eventLoop) }
    }

    func series(key: CounterKey, range: Int, step: Int, unique: Bool, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<HitSeries> {
        self.folded(at: second, on: eventLoop) { self.store.series(key: key, range: range, step: step, unique: unique, at: second, trace: trace, on: eventLoop) }
    }

    func top(range: Int, limit: Int, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<TopKeys> {
        self.folded(at: second, on: eventLoop) { self.store.top(range: range, limit: limit, at: second, trace: trace, on: eventLoop) }
    }

    func keys(prefix: String, cursor: String?, limit: Int) async throws -> KeyPage {
        try await self.store.keys(prefix: prefix, cursor: cursor, limit: limit)
    }

    func reset(key: CounterKey) async throws {
        try await self.store.reset(key: key)
    }

    func ping() async throws {
        try await self.store.ping()
    }

    func shutdown() {
        self.store.shutdown()
    }
}
