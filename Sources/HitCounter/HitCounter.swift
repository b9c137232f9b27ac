import NIOCore
import Tracing

/// The sliding-window hit counter: the library's front door.
///
/// It checks every argument, then asks its store. One clock for all replicas: unless a caller passes
/// a second explicitly (tests do, to drive time), the store's clock decides, and for Redis that is
/// Redis's `TIME`, the same for every replica.
///
/// With a `tracer`, each call to the store is a span (`hit`, `hits`, ...), a child of the caller's
/// `ServiceContext`, and each Redis round trip serving it is a child of that (docs/tracing.md).
/// Without one, no span is made.
public struct HitCounter: Sendable {
    public let store: any HitStore
    public let tracer: (any Tracer)?

    /// Bounds for one call's count: enough for a client that counts a batch at once, small enough that
    /// a second's counter (32 bits) takes over 400,000 calls of the largest count on one key in one
    /// second before it saturates, and a minute's or an hour's (64 bits) never does.
    public static let countBounds = 1...10_000

    public init(store: any HitStore, tracer: (any Tracer)? = nil) {
        self.store = store
        self.tracer = tracer
    }

    public var maxRange: Int { self.store.maxRange }

    /// Adds `count` hits to `key` now (or at `second`, for tests). Returns the second they were counted at.
    @discardableResult
    public func hit(key: CounterKey = .default, count: Int = 1, at second: Int64? = nil) async throws -> Int64 {
        try await self.hit(key: key, count: count, id: nil, callback: nil, at: second).second
    }

    /// Adds `count` hits to `key`, once per `id` within the store's dedup period; `callback` names a
    /// destination for the minute's roll-up event of `key`.
    public func hit(key: CounterKey = .default, count: Int = 1, id: HitID?, callback: String? = nil, at second: Int64? = nil) async throws -> HitReceipt {
        try await self.hit(key: key, count: count, id: id, callback: callback, at: second, on: currentEventLoop, context: .current).get()
    }

    /// The same, as a future completed on `eventLoop`: for a caller on that loop, no task and no change
    /// of thread. A refused argument fails the future with `HitCounterError`. `context` holds the
    /// caller's span, if any.
    public func hit(
        key: CounterKey = .default, count: Int = 1, id: HitID?, callback: String? = nil, at second: Int64? = nil, on eventLoop: any EventLoop,
        context: ServiceContext? = nil
    ) -> EventLoopFuture<HitReceipt> {
        do {
            try Self.check(Hit(key: key, count: count, id: id, callback: callback))
            try Self.check(second: second)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        return self.traced("hit", context: context, {
            $0["hitcounter.count"] = count
            $0["hitcounter.id"] = id != nil
        }) { trace in
            self.store.hit(key: key, count: count, id: id, callback: callback, at: second, trace: trace, on: eventLoop)
        }
    }

    /// The most hits one batch may hold.
    public static let batchBounds = 1...1000

    /// Counts a batch of hits, checked whole first: a bad hit fails the call with a `HitCounterError`
    /// that names its index (`hits[3]: ...`), and nothing is counted. Answers each hit's receipt, in
    /// order; a repeated id counts once, inside the batch as across batches.
    public func hit(_ hits: [Hit], at second: Int64? = nil) async throws -> [HitReceipt] {
        try await self.hit(hits, at: second, on: currentEventLoop, context: .current).get()
    }

    /// The same, as a future completed on `eventLoop`.
    public func hit(_ hits: [Hit], at second: Int64? = nil, on eventLoop: any EventLoop, context: ServiceContext? = nil) -> EventLoopFuture<[HitReceipt]> {
        do {
            guard Self.batchBounds.contains(hits.count) else {
                throw HitCounterError(.count, "a batch must hold from \(Self.batchBounds.lowerBound) to \(Self.batchBounds.upperBound) hits")
            }
            for (index, hit) in hits.enumerated() {
                do {
                    try Self.check(hit)
                } catch let error as HitCounterError {
                    throw HitCounterError(error.argument, "hits[\(index)]: " + error.message)
                }
            }
            try Self.check(second: second)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        return self.traced("hit batch", context: context, { $0["hitcounter.batch.size"] = hits.count }) { trace in
            self.store.hit(hits, at: second, trace: trace, on: eventLoop)
        }
    }

    /// A page of the counters hit within the max range whose keys start with `prefix`: about `limit`
    /// of them, and the cursor of the next page (nil at the end). See `HitStore.keys`.
    public func keys(prefix: String = "", cursor: String? = nil, limit: Int = 100) async throws -> KeyPage {
        guard Self.keysLimitBounds.contains(limit) else {
            throw HitCounterError(.limit, "limit must be an integer from \(Self.keysLimitBounds.lowerBound) to \(Self.keysLimitBounds.upperBound)")
        }
        return try await self.store.keys(prefix: prefix, cursor: cursor, limit: limit)
    }

    public static let keysLimitBounds = 1...1000

    /// Starts `key` again from zero: its buckets, unique series and ids go, atomically. See `HitStore.reset`.
    public func reset(key: CounterKey) async throws {
        try key.validate(as: .key)
        try await self.store.reset(key: key)
    }

    /// The number of hits on `key` in the last `range` seconds, the current second included; with
    /// `unique`, the number of distinct ids counted on `key` in them.
    public func hits(key: CounterKey = .default, range: Int, unique: Bool = false, at second: Int64? = nil) async throws -> Int64 {
        try await self.hits(key: key, range: range, unique: unique, at: second, on: currentEventLoop, context: .current).get()
    }

    /// The same, as a future completed on `eventLoop`.
    public func hits(
        key: CounterKey = .default, range: Int, unique: Bool = false, at second: Int64? = nil, on eventLoop: any EventLoop, context: ServiceContext? = nil
    ) -> EventLoopFuture<Int64> {
        do {
            try key.validate(as: .key)
            try self.check(range: range)
            try Self.check(second: second)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        return self.traced("hits", context: context, {
            $0["hitcounter.range"] = range
            $0["hitcounter.unique"] = unique
        }) { trace in
            self.store.hits(key: key, range: range, unique: unique, at: second, trace: trace, on: eventLoop)
        }
    }

    /// The hits on `key` in several windows ending at the same second (for a live view: the last
    /// second, minute and hour in one read).
    public func counts(key: CounterKey = .default, ranges: [Int], unique: Bool = false, at second: Int64? = nil) async throws -> WindowCounts {
        try key.validate(as: .key)
        for range in ranges { try self.check(range: range) }
        try Self.check(second: second)
        return try await self.traced("counts", context: .current, {
            $0["hitcounter.ranges"] = ranges
            $0["hitcounter.unique"] = unique
        }) { trace in
            self.store.counts(key: key, ranges: ranges, unique: unique, at: second, trace: trace, on: currentEventLoop)
        }.get()
    }

    /// The hits on `key` over the last `range` seconds in steps of `step` seconds, aligned to multiples
    /// of `step`, zero-filled; at most `SeriesPlan.maxPoints` steps.
    public func series(key: CounterKey = .default, range: Int, step: Int, unique: Bool = false, at second: Int64? = nil) async throws -> HitSeries {
        try key.validate(as: .key)
        try self.check(range: range)
        guard (1...self.maxRange).contains(step) else {
            throw HitCounterError(.step, "step must be an integer from 1 to \(self.maxRange)")
        }
        guard SeriesPlan.points(range: range, step: step) <= SeriesPlan.maxPoints else {
            throw HitCounterError(.step, "range / step must be at most \(SeriesPlan.maxPoints) points: use a step of at least \((range + SeriesPlan.maxPoints - 1) / SeriesPlan.maxPoints) for this range")
        }
        try Self.check(second: second)
        return try await self.traced("series", context: .current, {
            $0["hitcounter.range"] = range
            $0["hitcounter.step"] = step
            $0["hitcounter.unique"] = unique
        }) { trace in
            self.store.series(key: key, range: range, step: step, unique: unique, at: second, trace: trace, on: currentEventLoop)
        }.get()
    }

    /// The most keys one `top` call answers.
    public static let topLimitBounds = 1...100

    /// The `limit` counters with the most hits in the last `range` seconds, most first, with exact counts.
    public func top(range: Int, limit: Int = 10, at second: Int64? = nil) async throws -> TopKeys {
        try self.check(range: range)
        guard Self.topLimitBounds.contains(limit) else {
            throw HitCounterError(.limit, "limit must be an integer from \(Self.topLimitBounds.lowerBound) to \(Self.topLimitBounds.upperBound)")
        }
        try Self.check(second: second)
        guard self.store.keepsTopKeys else { throw TopKeysOff() }
        return try await self.traced("top", context: .current, {
            $0["hitcounter.range"] = range
            $0["hitcounter.limit"] = limit
        }) { trace in
            self.store.top(range: range, limit: limit, at: second, trace: trace, on: currentEventLoop)
        }.get()
    }

    /// `top` on a store told not to keep top keys, or on a Redis Cluster (docs/cluster.md).
    public struct TopKeysOff: Error, CustomStringConvertible {
        public var description: String { "top keys are off on this service (--top-keys false, or Redis is a cluster)" }
    }

    /// Succeeds when the store can serve requests.
    public func ping() async throws {
        try await self.store.ping()
    }

    /// `call` under a span named `name`, a child of `context`'s span, with the attributes `describe`
    /// sets; with no tracer, `call` alone.
    private func traced<Value>(
        _ name: String, context: ServiceContext?, _ describe: (inout SpanAttributes) -> Void, _ call: (TraceParent?) -> EventLoopFuture<Value>
    ) -> EventLoopFuture<Value> {
        guard let tracer = self.tracer else { return call(nil) }
        let span = tracer.startSpan(name, context: context ?? .topLevel, ofKind: .internal)
        // A trace the sampler left out: no attributes, and no child spans for the Redis round trips.
        guard span.isRecording else {
            defer { span.end() }
            return call(nil)
        }
        span.updateAttributes(describe)
        return call(TraceParent(tracer: tracer, context: span.context)).ending([span])
    }

    private static func check(_ hit: Hit) throws(HitCounterError) {
        try hit.key.validate(as: .key)
        guard Self.countBounds.contains(hit.count) else {
            throw HitCounterError(.count, "count must be an integer from \(Self.countBounds.lowerBound) to \(Self.countBounds.upperBound)")
        }
        try hit.id?.validate(as: .id)
    }

    private func check(range: Int) throws(HitCounterError) {
        guard (1...self.maxRange).contains(range) else {
            throw HitCounterError(.range, "range must be an integer from 1 to \(self.maxRange)")
        }
    }

    private static func check(second: Int64?) throws {
        // Up to the year 9999: well inside exact doubles, which Lua uses for numbers.
        guard let second else { return }
        guard (0...253_402_300_799).contains(second) else {
            throw HitCounterError(.timestamp, "timestamp must be epoch seconds from 0 to 253402300799")
        }
    }
}
