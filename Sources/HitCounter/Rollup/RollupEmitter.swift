import CoreMetrics
import Logging
import NIOCore
import NIOConcurrencyHelpers

/// Emits each closed minute's roll-up events exactly once across the fleet.
///
/// Every replica runs one. They compete for one lock in Redis (an owner token with an expiry, renewed
/// by its holder, released only by it); the holder reads each closed minute's active counters and hands
/// the events to every sink. Each sink has its own cursor in Redis (the next minute it is owed), moved
/// forward only after the sink confirmed the minute, and only by the lock's holder. So a minute is
/// never emitted twice by racing replicas, and never skipped when the holder dies: the next holder
/// resumes at the cursor, late minutes included. The argument and its one gap are in docs/exactly-once.md.
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
        /// The longest a failing sink waits before its next attempt (the wait doubles from 0.5 s).
        public var maxBackoff: Duration = .seconds(30)

        public init(name: String) {
            self.name = name
        }
    }

    private let store: RedisHitStore
    private let sinks: [any RollupSink]
    private let configuration: Configuration
    private let token: String
    private let clock: (@Sendable () -> Int64)?
    private let logger: Logger
    /// 1 while this replica holds the roll-up lock.
    private let leader = Gauge(label: "hitcounter_rollup_leader")
    private let retries = NIOLockedValueBox<[String: (attempts: Int, notBefore: ContinuousClock.Instant)]>([:])

    /// - Parameter clock: the current second, for tests that drive time; Redis's clock when nil.
    public init(
        store: RedisHitStore,
        sinks: [any RollupSink],
        configuration: Configuration,
        clock: (@Sendable () -> Int64)? = nil,
        logger: Logger = Logger(label: "hitcounter.rollup")
    ) {
        self.store = store
        self.sinks = sinks
        self.configuration = configuration
        // Unique per process run: a restarted replica is a new owner.
        self.token = configuration.name + "/" + String(UInt64.random(in: 1...UInt64.max), radix: 36)
        self.clock = clock
        self.logger = logger
    }

    /// Runs until cancelled; then releases the lock, so another replica takes over at once.
    public func run() async {
        while !Task.isCancelled {
            do {
                try await self.runOnce()
            } catch {
                self.logger.warning("roll-up pass failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: self.configuration.interval)
        }
        try? await self.release()
    }

    /// One pass: take or renew the lock; if held, deliver every closed minute each sink is owed.
    /// Returns the number of minutes delivered (to any sink).
    @discardableResult
    public func runOnce() async throws -> Int {
        var delivered = 0
        // Sinks are usually owed the same minute: read a closed minute once per pass, not once per sink.
        var read: (minute: Int64, events: [RollupEvent])?
        while true {
            guard let claim = try await self.claim() else {
                self.leader.record(0)
                return delivered
            }
            self.leader.record(1)
            // The sink furthest behind whose minute has closed, and is not waiting to retry.
            let due = zip(self.sinks, claim.next).filter { sink, next in
                next + 60 + self.configuration.delay <= claim.now && self.mayTry(sink.name)
            }
            guard let (sink, minute) = due.min(by: { $0.1 < $1.1 }) else { return delivered }
            if read?.minute != minute {
                read = (minute, try await self.events(minute: minute))
            }
            let events = read!.events.filter { sink.accepts($0) }
            do {
                if !events.isEmpty { try await sink.deliver(events) }
            } catch {
                self.failed(sink.name, minute: minute, error: error)
                continue
            }
            self.retries.withLockedValue { $0[sink.name] = nil }
            guard try await self.advance(sink.name, past: minute) else {
                // The lock moved on while we delivered: the new holder owns the cursor now.
                self.logger.warning("lost the roll-up lock while delivering", metadata: ["sink": "\(sink.name)", "minute": "\(minute)"])
                return delivered
            }
            Counter(label: "hitcounter_rollup_events_total", dimensions: [("sink", sink.name)]).increment(by: events.count)
            if !events.isEmpty {
                self.logger.debug("minute emitted", metadata: ["sink": "\(sink.name)", "minute": "\(minute)", "events": "\(events.count)"])
            }
            delivered += 1
        }
    }

    /// Releases the lock if this replica holds it.
    public func release() async throws {
        _ = try await self.store.client.evaluate(
            self.store.client.script(RollupScripts.release), keys: [self.key("lock")], arguments: [RedisArgument(self.token)]
        ).get()
    }

    private func claim() async throws -> (now: Int64, next: [Int64])? {
        let milliseconds = TimeAmount(self.configuration.lease).nanoseconds / 1_000_000
        let reply = try await self.store.client.evaluate(
            self.store.client.script(RollupScripts.claim),
            keys: [self.key("lock")] + self.sinks.map { self.key("next:" + $0.name) },
            arguments: [RedisArgument(self.token), RedisArgument(milliseconds), RedisHitStore.secondArgument(self.clock?())]
        ).get()
        guard case .array(let values) = reply, values.count >= 2, let now = values[1].int64 else {
            throw RedisError.protocolError("the claim script answered \(reply)")
        }
        guard values[0].int64 == 1 else { return nil }
        let next = values.dropFirst(2).compactMap(\.int64)
        guard next.count == self.sinks.count else { throw RedisError.protocolError("the claim script answered \(reply)") }
        return (now, next)
    }

    /// The minute's events, one per counter hit in it.
    private func events(minute: Int64) async throws -> [RollupEvent] {
        let reply = try await self.store.client.evaluate(
            self.store.client.script(RollupScripts.read),
            keys: [],
            arguments: [RedisArgument(bytes: self.store.keyPrefix), RedisArgument(minute)]
        ).get()
        guard case .array(let entries) = reply else { throw RedisError.protocolError("the roll-up read answered \(reply)") }
        return try entries.map { entry in
            guard case .array(let fields) = entry, fields.count == 4, case .bulkString(let key) = fields[0],
                let hits = fields[1].int64, let unique = fields[2].int64, case .array(let callbacks) = fields[3]
            else { throw RedisError.protocolError("the roll-up read answered \(entry)") }
            return RollupEvent(
                key: CounterKey(bytes: key), minute: minute, hits: hits, unique: unique, emittedBy: self.configuration.name,
                callbacks: callbacks.compactMap(\.string).sorted()
            )
        }.sorted { $0.key.bytes.lexicographicallyPrecedes($1.key.bytes) }
    }

    private func advance(_ sink: String, past minute: Int64) async throws -> Bool {
        let reply = try await self.store.client.evaluate(
            self.store.client.script(RollupScripts.advance),
            keys: [self.key("lock"), self.key("next:" + sink)],
            arguments: [RedisArgument(self.token), RedisArgument(minute)]
        ).get()
        return reply.int64 == 1
    }

    private func mayTry(_ sink: String) -> Bool {
        self.retries.withLockedValue { $0[sink].map { ContinuousClock.now >= $0.notBefore } ?? true }
    }

    /// Backs off exponentially: the minute stays owed and is tried again later. Hits are never held up.
    private func failed(_ sink: String, minute: Int64, error: any Error) {
        let attempts = self.retries.withLockedValue { retries in
            let attempts = (retries[sink]?.attempts ?? 0) + 1
            let backoff = min(Duration.milliseconds(500) * (1 << min(attempts - 1, 16)), self.configuration.maxBackoff)
            retries[sink] = (attempts, ContinuousClock.now + backoff)
            return attempts
        }
        Counter(label: "hitcounter_rollup_failures_total", dimensions: [("sink", sink)]).increment()
        self.logger.warning(
            "roll-up delivery failed; will retry",
            metadata: ["sink": "\(sink)", "minute": "\(minute)", "attempt": "\(attempts)", "error": "\(error)"]
        )
    }

    private func key(_ suffix: String) -> RedisArgument {
        RedisArgument(bytes: self.store.keyPrefix + Array(":rollup:\(suffix)".utf8))
    }
}

