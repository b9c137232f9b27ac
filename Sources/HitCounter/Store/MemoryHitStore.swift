import NIOConcurrencyHelpers
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hits in this process's memory, with the same window rules as Redis: for trying the service without
/// Redis, and for fast HTTP tests. Not shared between replicas, and gone on restart.
public final class MemoryHitStore: HitStore {
    public let maxRange: Int
    public let dedupPeriod: Int
    /// Always: it sums every counter when asked.
    public var keepsTopKeys: Bool { true }
    private let state = NIOLockedValueBox(State())
    private let writes = Atomic<Int>(0)

    private struct State {
        /// Hits per counter, and ids counted per counter (the `unique` reads).
        var hits: [CounterKey: SecondBuckets] = [:]
        var ids: [CounterKey: SecondBuckets] = [:]
        /// When each counted `(key, id)` may count again (wall-clock seconds).
        var seen: [SeenID: Int64] = [:]
    }

    private struct SeenID: Hashable {
        let key: CounterKey
        let id: HitID
    }

    public init(maxRange: Int = 86_400, dedupPeriod: Int = 86_400) {
        precondition(maxRange >= 1, "maxRange must be at least one second")
        precondition(dedupPeriod >= 1, "dedupPeriod must be at least one second")
        self.maxRange = maxRange
        self.dedupPeriod = dedupPeriod
    }

    public func hit(key: CounterKey, count: Int, id: HitID?, callback: String?, at second: Int64?, trace _: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<HitReceipt> {
        eventLoop.makeSucceededFuture(self.hit(key: key, count: count, id: id, at: second))
    }

    public func hit(_ hits: [Hit], at second: Int64?, trace _: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<[HitReceipt]> {
        eventLoop.makeSucceededFuture(hits.map { self.hit(key: $0.key, count: $0.count, id: $0.id, at: second) })
    }

    /// Counters in byte order; the cursor is how many came before.
    public func keys(prefix: String, cursor: String?, limit: Int) async throws -> KeyPage {
        let start = cursor.flatMap { Int($0) } ?? 0
        let prefix = Array(prefix.utf8)
        let wallClock = Self.currentSecond()
        let keys = self.state.withLockedValue { state in
            Self.live(state.hits, at: wallClock).keys.filter { $0.bytes.starts(with: prefix) }
        }.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        let page = Array(keys.dropFirst(start).prefix(limit))
        return KeyPage(keys: page, next: start + page.count < keys.count ? String(start + page.count) : nil)
    }

    public func reset(key: CounterKey) async throws {
        self.state.withLockedValue { state in
            state.hits[key] = nil
            state.ids[key] = nil
            state.seen = state.seen.filter { $0.key.key != key }
        }
    }

    public func hits(key: CounterKey, range: Int, unique: Bool, at second: Int64?, trace _: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<Int64> {
        eventLoop.makeSucceededFuture(self.hits(key: key, range: range, unique: unique, at: second))
    }

    public func counts(key: CounterKey, ranges: [Int], unique: Bool, at second: Int64?, trace _: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<WindowCounts> {
        let now = second ?? Self.currentSecond()
        let hits = self.state.withLockedValue { state in
            let buckets = (unique ? state.ids : state.hits)[key]
            return ranges.map { buckets?.sum(from: now - Int64($0) + 1, through: now) ?? 0 }
        }
        return eventLoop.makeSucceededFuture(WindowCounts(now: now, ranges: ranges, hits: hits))
    }

    public func series(key: CounterKey, range: Int, step: Int, unique: Bool, at second: Int64?, trace _: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<HitSeries> {
        let now = second ?? Self.currentSecond()
        let plan = SeriesPlan(now: now, range: range, step: step)
        let points = self.state.withLockedValue { state in
            let buckets = (unique ? state.ids : state.hits)[key]
            return plan.steps.map { step in
                let window = step.window
                let hits = buckets?.sum(from: window.now - Int64(window.range) + 1, through: window.now) ?? 0
                return HitSeries.Point(start: step.start, hits: hits, partial: step.partial)
            }
        }
        return eventLoop.makeSucceededFuture(HitSeries(now: now, range: range, step: step, points: points))
    }

    public func top(range: Int, limit: Int, at second: Int64?, trace _: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<TopKeys> {
        let now = second ?? Self.currentSecond()
        let counts = self.state.withLockedValue { state in
            state.hits.mapValues { $0.sum(from: now - Int64(range) + 1, through: now) }
        }
        return eventLoop.makeSucceededFuture(TopKeys(now: now, range: range, entries: TopKeys.ranking(counts, limit: limit)))
    }

    private func hit(key: CounterKey, count: Int, id: HitID?, at second: Int64?) -> HitReceipt {
        let wallClock = Self.currentSecond()
        let now = second ?? wallClock
        // Like a Redis TTL: a bucket lives as long as a window of maxRange can still reach it, counted
        // on the wall clock, so driven time in tests keeps its buckets too.
        let expiresAt = wallClock + Int64(self.maxRange) + 1
        let sweep = self.writes.wrappingAdd(1, ordering: .relaxed).newValue % 4096 == 0
        let counted = self.state.withLockedValue { state in
            if let id {
                let seen = SeenID(key: key, id: id)
                if let until = state.seen[seen], until > wallClock { return false }
                state.seen[seen] = wallClock + Int64(self.dedupPeriod)
                state.ids[key, default: SecondBuckets()].add(1, at: now, expiresAt: expiresAt)
                state.ids[key]!.dropExpired(at: wallClock)
            }
            state.hits[key, default: SecondBuckets()].add(Int64(count), at: now, expiresAt: expiresAt)
            state.hits[key]!.dropExpired(at: wallClock)
            if sweep {
                // Now and then, forget counters nobody has hit within the longest window, and old ids.
                state.hits = Self.live(state.hits, at: wallClock)
                state.ids = Self.live(state.ids, at: wallClock)
                state.seen = state.seen.filter { $0.value > wallClock }
            }
            return true
        }
        return HitReceipt(second: now, counted: counted)
    }

    private func hits(key: CounterKey, range: Int, unique: Bool, at second: Int64?) -> Int64 {
        let now = second ?? Self.currentSecond()
        return self.state.withLockedValue { state in
            (unique ? state.ids : state.hits)[key]?.sum(from: now - Int64(range) + 1, through: now) ?? 0
        }
    }

    public func ping() async throws {}

    /// Nothing to release.
    public func shutdown() {}

    private static func live(_ counters: [CounterKey: SecondBuckets], at wallClock: Int64) -> [CounterKey: SecondBuckets] {
        counters.filter { entry in
            var buckets = entry.value
            buckets.dropExpired(at: wallClock)
            return !buckets.isEmpty
        }
    }

    private static func currentSecond() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }
}

/// One counter's hits per second, ordered by second.
private struct SecondBuckets {
    private struct Bucket {
        let second: Int64
        var count: Int64
        var expiresAt: Int64
    }

    private var buckets = CircularBuffer<Bucket>()

    var isEmpty: Bool { self.buckets.isEmpty }

    mutating func add(_ count: Int64, at second: Int64, expiresAt: Int64) {
        // Hits nearly always land on the newest second; an explicit older second is inserted in order.
        let index = self.buckets.last.map { $0.second < second } ?? true ? self.buckets.endIndex : self.firstIndex(atOrAfter: second)
        if index != self.buckets.endIndex, self.buckets[index].second == second {
            self.buckets[index].count += count
            self.buckets[index].expiresAt = expiresAt
        } else if index == self.buckets.endIndex {
            self.buckets.append(Bucket(second: second, count: count, expiresAt: expiresAt))
        } else {
            self.buckets.insert(Bucket(second: second, count: count, expiresAt: expiresAt), at: index)
        }
    }

    /// Drops the oldest buckets whose time is up.
    mutating func dropExpired(at wallClock: Int64) {
        while let first = self.buckets.first, first.expiresAt <= wallClock {
            self.buckets.removeFirst()
        }
    }

    func sum(from: Int64, through: Int64) -> Int64 {
        var total: Int64 = 0
        var index = self.firstIndex(atOrAfter: from)
        while index != self.buckets.endIndex, self.buckets[index].second <= through {
            total += self.buckets[index].count
            index = self.buckets.index(after: index)
        }
        return total
    }

    private func firstIndex(atOrAfter second: Int64) -> CircularBuffer<Bucket>.Index {
        var low = self.buckets.startIndex
        var count = self.buckets.count
        while count > 0 {
            let half = count / 2
            let middle = self.buckets.index(low, offsetBy: half)
            if self.buckets[middle].second < second {
                low = self.buckets.index(after: middle)
                count -= half + 1
            } else {
                count = half
            }
        }
        return low
    }
}
