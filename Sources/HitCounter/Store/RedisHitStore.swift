import Logging
import NIOCore
import NIOPosix

/// Hits in Redis: per-second, minute and hour buckets in sorted sets, windows read by Redis's clock.
///
/// Every operation is one script call: atomic, one round trip, every key it touches named by
/// `KeySchema` and passed in `KEYS`, all in the counter's hash slot. See docs/data-model.md.
public final class RedisHitStore: HitStore {
    public let maxRange: Int
    public let dedupPeriod: Int
    /// The connection to Redis; the roll-ups share it.
    public let client: RedisClient
    /// How every key is spelled.
    public let keys: KeySchema
    private let clock: RedisClock
    private let coalescer: HitCoalescer
    private let health: RedisHealth

    /// A call planned for a minute or second Redis has already left is planned again, at most this often.
    static let maxReplans = 3

    /// - Parameters:
    ///   - dedupPeriod: how long a hit's id is remembered, in seconds.
    ///   - keyPrefix: the start of every key this store writes, so several services can share a Redis.
    public convenience init(
        configuration: RedisConfiguration,
        maxRange: Int = 86_400,
        dedupPeriod: Int = 86_400,
        keyPrefix: String = "hc",
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "hitcounter.redis")
    ) {
        self.init(
            client: RedisClient(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger),
            maxRange: maxRange, dedupPeriod: dedupPeriod, keys: KeySchema(prefix: keyPrefix), logger: logger
        )
    }

    public convenience init(client: RedisClient, maxRange: Int = 86_400, dedupPeriod: Int = 86_400, keys: KeySchema = KeySchema(), logger: Logger) {
        self.init(client: client, maxRange: maxRange, dedupPeriod: dedupPeriod, keys: keys, clock: RedisClock(), logger: logger)
    }

    init(client: RedisClient, maxRange: Int, dedupPeriod: Int, keys: KeySchema, clock: RedisClock, logger: Logger) {
        precondition(maxRange >= 1, "maxRange must be at least one second")
        precondition(dedupPeriod >= 1, "dedupPeriod must be at least one second")
        self.clock = clock
        self.maxRange = maxRange
        self.dedupPeriod = dedupPeriod
        self.client = client
        self.keys = keys
        self.health = RedisHealth(logger: logger)
        self.coalescer = HitCoalescer { target, batch in
            Self.send(batch, to: target, client: client, keys: keys, clock: clock, maxRange: maxRange, dedupPeriod: dedupPeriod)
        }
    }

    public func hit(
        key: CounterKey, count: Int, id: HitID?, callback: String?, at second: Int64?, on eventLoop: any EventLoop
    ) -> EventLoopFuture<HitReceipt> {
        self.health.observe(self.coalescer.hit(HitCoalescer.Target(key: key, second: second), count: count, id: id, callback: callback, on: eventLoop))
    }

    public func hits(key: CounterKey, range: Int, unique: Bool, at second: Int64?, on eventLoop: any EventLoop) -> EventLoopFuture<Int64> {
        let read = self.read(self.keys.counter(key), series: unique ? .unique : .hits, range: range, now: second ?? self.clock.second(), driven: second != nil)
        return self.health.observe(read).hop(to: eventLoop)
    }

    /// One window read, planned for `now` and planned again if Redis is in another second.
    private func read(_ counterKeys: CounterKeys, series: CounterKeys.Series, range: Int, now: Int64, driven: Bool, attempt: Int = 1) -> EventLoopFuture<Int64> {
        let sentAt = RedisClock.localMicroseconds()
        let replied = self.client.run(WindowScript(keys: counterKeys, series: series, plan: WindowPlan(now: now, range: range), driven: driven))
        return replied.flatMap { reply in
            self.clock.observe(second: reply.second, microseconds: reply.microseconds, sentAt: sentAt)
            if let total = reply.total { return replied.eventLoop.makeSucceededFuture(total) }
            guard attempt < Self.maxReplans else { return replied.eventLoop.makeFailedFuture(RedisError.clockMoved) }
            return self.read(counterKeys, series: series, range: range, now: self.clock.second(), driven: driven, attempt: attempt + 1)
        }
    }

    /// Succeeds when Redis would take a hit now: it answers, and would accept a write.
    public func ping() async throws {
        try await self.health.observe(self.client.run(WriteProbeScript())).get()
    }

    /// Closes the connection to Redis. Calls after this fail.
    public func shutdown() {
        self.client.shutdown()
    }

    /// One script call for a batch of hits on one counter, planned again if Redis is in another minute.
    private static func send(
        _ batch: HitCoalescer.Batch, to target: HitCoalescer.Target, client: RedisClient, keys: KeySchema, clock: RedisClock,
        maxRange: Int, dedupPeriod: Int, attempt: Int = 1
    ) -> EventLoopFuture<HitCoalescer.Outcome> {
        let second = target.second ?? clock.second()
        let call = HitScript(
            keys: keys, counter: target.key, minute: BucketLevel.minutes.unitStart(second), second: target.second, count: batch.count,
            ids: batch.ids, callbacks: batch.callbacks, maxRange: maxRange, dedupPeriod: dedupPeriod
        )
        let sentAt = RedisClock.localMicroseconds()
        let replied = client.run(call)
        return replied.flatMap { reply in
            clock.observe(second: reply.second, microseconds: reply.microseconds, sentAt: sentAt)
            if let counted = reply.counted {
                guard counted.count == batch.ids.count else {
                    return replied.eventLoop.makeFailedFuture(HitScript.unexpected(.integer(Int64(counted.count))))
                }
                return replied.eventLoop.makeSucceededFuture(HitCoalescer.Outcome(second: reply.second, counted: counted))
            }
            guard attempt < Self.maxReplans else { return replied.eventLoop.makeFailedFuture(RedisError.clockMoved) }
            return Self.send(
                batch, to: target, client: client, keys: keys, clock: clock, maxRange: maxRange, dedupPeriod: dedupPeriod, attempt: attempt + 1
            )
        }
    }
}
