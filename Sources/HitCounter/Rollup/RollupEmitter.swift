import CoreMetrics
import Logging
import NIOCore
import NIOConcurrencyHelpers

/// Folds each closed minute into the minute and hour levels, then emits its roll-up events exactly once
/// across the fleet.
///
/// Every replica runs one. They compete for one lock in Redis (an owner token with an expiry, renewed
/// by its holder, released only by it); the holder reads each closed minute's counters a page at a time
/// and hands the events to every sink. Each sink has its own position in Redis (the minute it is owed,
/// and the last counter of it delivered), moved forward only after the sink confirmed a page, and only
/// by the lock's holder. So a minute is never emitted twice by racing replicas, and never skipped when
/// the holder dies: the next holder resumes where the sink stands, late minutes included. The argument
/// and its one gap are in docs/exactly-once.md.
///
/// The fold goes first (docs/fold.md): it has a position like a sink's, which is the watermark reads
/// plan by, and a sink is handed a minute only once the fold is past it (its events read the minute's
/// units). Hits write seconds only, so every replica runs an emitter, with sinks or without.
public final class RollupEmitter: Sendable {
    public struct Configuration: Sendable {
        /// Names this replica in the events' `emittedBy`.
        public var name: String
        /// How long the lock outlives its holder's last renewal. A sink's delivery must end well inside it.
        public var lease: Duration = .seconds(10)
        /// How often a replica tries for the lock, and the holder looks for closed minutes.
        public var interval: Duration = .seconds(1)
        /// A minute is emitted this long after it closed.
        public var delay: Int64 = 2
        /// The longest a failing sink, or a failing pass, waits before its next attempt (the wait
        /// doubles from 0.5 s).
        public var maxBackoff: Duration = .seconds(30)
        /// Counters read, and events delivered, at a time: every Redis call stays small however many
        /// counters a minute holds. 64 rather than 256: hits beside a 200,000-counter roll-up kept their
        /// p99 within 1.1-1.4x of before instead of 1.4-1.6x (bench/large-minute).
        public var pageSize = 64

        public init(name: String) {
            self.name = name
        }
    }

    private let client: RedisClient
    private let keys: KeySchema
    private let reader: RollupReader
    private let sinks: [any RollupSink]
    private let configuration: Configuration
    /// The store's `--max-range`: how long the units the fold writes live.
    private let maxRange: Int
    /// Whether the store keeps top sets (`--top-keys`): then the fold writes the hour's.
    private let topKeys: Bool
    private let token: String
    private let clock: (@Sendable () -> Int64)?
    private let logger: Logger
    /// 1 while this replica holds the roll-up lock.
    private let leader = Gauge(label: "hitcounter_rollup_leader")
    private let retries = NIOLockedValueBox<[String: Backoff]>([:])

    /// - Parameter clock: the current second, for tests that drive time; Redis's clock when nil.
    public init(
        client: RedisClient,
        keys: KeySchema = KeySchema(),
        sinks: [any RollupSink],
        configuration: Configuration,
        maxRange: Int = 86_400,
        topKeys: Bool = true,
        clock: (@Sendable () -> Int64)? = nil,
        logger: Logger = Logger(label: "hitcounter.rollup")
    ) {
        self.client = client
        self.maxRange = maxRange
        self.topKeys = topKeys
        self.keys = keys
        self.reader = RollupReader(client: client, pageSize: configuration.pageSize)
        self.sinks = sinks
        self.configuration = configuration
        // Unique per process run: a restarted replica is a new owner.
        self.token = configuration.name + "/" + String(UInt64.random(in: 1...UInt64.max), radix: 36)
        self.clock = clock
        self.logger = logger
    }

    /// The emitter of a Redis store's counters, over the store's connection.
    public convenience init(
        store: RedisHitStore, sinks: [any RollupSink], configuration: Configuration, clock: (@Sendable () -> Int64)? = nil,
        logger: Logger = Logger(label: "hitcounter.rollup")
    ) {
        self.init(
            client: store.client, keys: store.keys, sinks: sinks, configuration: configuration, maxRange: store.maxRange, topKeys: store.keepsTopKeys,
            clock: clock, logger: logger
        )
    }

    /// Runs until cancelled; then releases the lock, so another replica takes over at once. A failing
    /// pass (Redis down) is retried with backoff, and logged once until a pass succeeds again.
    public func run() async {
        var backoff = Backoff()
        while !Task.isCancelled {
            do {
                try await self.runOnce()
                if backoff.attempts > 0 {
                    self.logger.info("roll-up passes succeed again", metadata: ["failed_passes": "\(backoff.attempts)"])
                }
                backoff = Backoff()
            } catch {
                backoff.fail(maxWait: self.configuration.maxBackoff)
                if backoff.attempts == 1 {
                    self.logger.warning("roll-up pass failed; retrying with backoff", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: max(self.configuration.interval, backoff.wait))
        }
        try? await self.release()
    }

    /// One pass: take or renew the lock; if held, fold every closed minute not folded yet and deliver
    /// every folded minute each sink is owed, a page at a time. Returns the number of minutes completed
    /// (for any sink).
    @discardableResult
    public func runOnce() async throws -> Int {
        var delivered = 0
        // Sinks are usually at the same place: read a page once per pass, not once per sink.
        var read: (cursor: RollupCursor, page: RollupReader.Page)?
        let keys = try await self.schema()
        while true {
            guard let claim = try await self.claim(keys) else {
                self.leader.record(0)
                for name in [Self.fold] + self.sinks.map(\.name) { Self.lag(name).record(0) }
                return delivered
            }
            self.leader.record(1)
            let fold = claim.cursors[0], cursors = claim.cursors.dropFirst()
            Self.lag(Self.fold).record(max(0, claim.now - (fold.minute + 60)))
            for (sink, cursor) in zip(self.sinks, cursors) { Self.lag(sink.name).record(max(0, claim.now - (cursor.minute + 60))) }
            if fold.minute + 60 + self.configuration.delay <= claim.now {
                let done = self.isPastMaxRange(fold.minute, now: claim.now)
                    ? try await self.skip(fold, of: Self.fold, keys: keys) : try await self.fold(at: fold, keys: keys)
                guard done else { return delivered }
                continue
            }
            // The sink furthest behind whose minute is folded, and is not waiting to retry.
            let due = zip(self.sinks, cursors).filter { sink, cursor in cursor.minute < fold.minute && self.mayTry(sink.name) }
            guard let (sink, cursor) = due.min(by: { $0.1.minute < $1.1.minute }) else { return delivered }
            if self.isPastMaxRange(cursor.minute, now: claim.now) {
                guard try await self.skip(cursor, of: sink.name, keys: keys) else { return delivered }
                continue
            }
            if read?.cursor != cursor {
                read = (cursor, try await self.reader.page(at: cursor, emittedBy: self.configuration.name, keys: keys))
            }
            let page = read!.page
            let events = page.events.filter { sink.accepts($0) }
            do {
                if !events.isEmpty { try await sink.deliver(events) }
            } catch {
                self.failed(sink.name, minute: cursor.minute, error: error)
                continue
            }
            self.retries.withLockedValue { $0[sink.name] = nil }
            let advanced = try await self.client.run(AdvanceScript(
                keys: keys, sink: sink.name, token: self.token, from: cursor, to: page.isLast ? nil : page.last
            ))
            guard advanced else {
                // The lock moved on while we delivered: the new holder owns the cursor now.
                self.logger.warning("lost the roll-up lock while delivering", metadata: ["sink": "\(sink.name)", "minute": "\(cursor.minute)"])
                return delivered
            }
            Counter(label: "hitcounter_rollup_events_total", dimensions: [("sink", sink.name)]).increment(by: events.count)
            if page.isLast {
                self.logger.debug("minute emitted", metadata: ["sink": "\(sink.name)", "minute": "\(cursor.minute)"])
                delivered += 1
            }
        }
    }

    /// The fold's name among the positions: no sink is called so.
    static let fold = "fold"

    /// Counters folded per script call, at most.
    static let countersPerFoldCall = 16

    /// Folds the page of the minute at `cursor` and moves the fold's position past it; false when the lock
    /// moved on meanwhile, or the minute is still open on a Redis that holds some of its counters. A counter that fails (a key of another type) is logged and left: its minute
    /// and hour units stay as they were, and its seconds still count in reads of the last `--max-range`.
    private func fold(at cursor: RollupCursor, keys: KeySchema) async throws -> Bool {
        let counters = try await self.reader.counters(at: cursor, keys: keys)
        // In a cluster, a call per hash slot: a script's keys share one.
        var slots: [Int: [CounterKey]] = [:]
        for counter in counters { slots[keys.isClustered ? HashSlot.of(keys.counter(counter).base) : 0, default: []].append(counter) }
        // And at most `countersPerFoldCall` counters a call, sent together: a call holds Redis for its
        // whole length, so short calls let hits in between (LargeMinuteTests: no call of 10 ms).
        let groups = slots.sorted { $0.key < $1.key }.flatMap { $0.value.chunks(of: Self.countersPerFoldCall) }
        let calls = groups.map { group in
            FoldScript(
                keys: keys, counters: group, minute: cursor.minute, second: self.clock?(), maxRange: self.maxRange, topKeys: self.topKeys && !keys.isClustered,
                slot: keys.isClustered ? HashSlot.of(keys.counter(group[0]).base) : 0
            )
        }
        // Replicated as hits are: the position never moves past writes a promoted replica would lack.
        let replies = self.client.run(together: calls, on: self.client.eventLoop, tracing: calls.map { _ in [] }, attributes: calls.map { _ in [:] }, replicated: true)
        var open: FoldScript.MinuteNotClosed?
        for (group, reply) in zip(groups, replies) {
            let results: FoldScript.Reply
            do {
                results = try await reply.get()
            } catch let error as FoldScript.MinuteNotClosed {
                open = error
                continue
            }
            for (counter, result) in zip(group, results) {
                guard case .failure(let error) = result else { continue }
                Counter(label: "hitcounter_fold_failures_total").increment()
                self.logger.warning("a counter's minute could not be folded", metadata: ["key": "\(counter)", "minute": "\(cursor.minute)", "error": "\(error)"])
            }
        }
        if let open {
            // A node's clock is behind the holder's: the page is folded again, whole, on a later pass.
            self.logger.debug("a minute to fold is still open on a node", metadata: ["minute": "\(cursor.minute)", "error": "\(open)"])
            return false
        }
        let isLast = counters.count < self.configuration.pageSize
        let advanced = try await self.client.run(AdvanceScript(
            keys: keys, sink: Self.fold, token: self.token, from: cursor, to: isLast ? nil : counters.last?.bytes
        ))
        if !advanced { self.logger.warning("lost the roll-up lock while folding", metadata: ["minute": "\(cursor.minute)"]) }
        return advanced
    }

    /// Whether `minute` closed `--max-range` or more before `now`: its seconds have expired (and no window
    /// reads it any more), so it can no longer be folded, nor its events told.
    private func isPastMaxRange(_ minute: Int64, now: Int64) -> Bool {
        minute + 60 + Int64(self.maxRange) <= now
    }

    /// Moves `name`'s position past a minute it reached too late (a roll-up behind by more than
    /// `--max-range`), saying so in a log line and `hitcounter_rollup_minutes_lost_total`, rather than
    /// folding or telling zeros; false when the lock moved on meanwhile.
    private func skip(_ cursor: RollupCursor, of name: String, keys: KeySchema) async throws -> Bool {
        let advanced = try await self.client.run(AdvanceScript(keys: keys, sink: name, token: self.token, from: cursor, to: nil))
        guard advanced else { return false }
        Counter(label: "hitcounter_rollup_minutes_lost_total", dimensions: [("sink", name)]).increment()
        self.logger.warning(
            "a minute reached after --max-range is lost to the roll-up: its seconds expired", metadata: ["sink": "\(name)", "minute": "\(cursor.minute)"]
        )
        return true
    }

    /// Seconds since the oldest minute `sink` is owed closed: what an alert on falling behind watches.
    private static func lag(_ sink: String) -> Gauge {
        Gauge(label: "hitcounter_rollup_lag_seconds", dimensions: [("sink", sink)])
    }

    /// Releases the lock if this replica holds it.
    public func release() async throws {
        try await self.client.run(ReleaseScript(keys: try await self.schema(), token: self.token))
    }

    /// The store's keys, spelled for a cluster when Redis is one.
    private func schema() async throws -> KeySchema {
        try await self.client.routing(on: self.client.eventLoop).map { $0.isCluster ? self.keys.inCluster() : self.keys }.get()
    }

    private func claim(_ keys: KeySchema) async throws -> (now: Int64, cursors: [RollupCursor])? {
        let milliseconds = TimeAmount(self.configuration.lease).nanoseconds / 1_000_000
        let reply = try await self.client.run(ClaimScript(
            keys: keys, sinks: [Self.fold] + self.sinks.map(\.name), token: self.token, leaseMilliseconds: milliseconds, second: self.clock?(),
            maxRange: self.maxRange
        ))
        guard let cursors = reply.cursors else { return nil }
        guard cursors.count == 1 + self.sinks.count else { throw ClaimScript.unexpected(.integer(Int64(cursors.count))) }
        return (reply.now, cursors)
    }

    private func mayTry(_ sink: String) -> Bool {
        self.retries.withLockedValue { $0[sink].map { ContinuousClock.now >= $0.notBefore } ?? true }
    }

    /// Backs off exponentially: the minute stays owed and is tried again later. Hits are never held up.
    private func failed(_ sink: String, minute: Int64, error: any Error) {
        let attempts = self.retries.withLockedValue { retries in
            var backoff = retries[sink] ?? Backoff()
            backoff.fail(maxWait: self.configuration.maxBackoff)
            retries[sink] = backoff
            return backoff.attempts
        }
        Counter(label: "hitcounter_rollup_failures_total", dimensions: [("sink", sink)]).increment()
        self.logger.warning(
            "roll-up delivery failed; will retry",
            metadata: ["sink": "\(sink)", "minute": "\(minute)", "attempt": "\(attempts)", "error": "\(error)"]
        )
    }
}

/// Exponential backoff: 0.5 s after the first failure, doubling up to a ceiling.
private struct Backoff {
    private(set) var attempts = 0
    private(set) var wait = Duration.zero
    private(set) var notBefore = ContinuousClock.now

    mutating func fail(maxWait: Duration) {
        self.attempts += 1
        self.wait = min(Duration.milliseconds(500) * (1 << min(self.attempts - 1, 16)), maxWait)
        self.notBefore = .now + self.wait
    }
}
