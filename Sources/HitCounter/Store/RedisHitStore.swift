import Logging
import NIOCore
import NIOPosix
import Tracing

/// Hits in Redis: per-second, minute and hour buckets of fixed-width counters, windows read by Redis's
/// clock. See docs/data-model.md.
///
/// A flight of hits is one atomic script call (`HitScript`, every key in `KEYS`); a read is one write
/// of `TIME` and one `GETRANGE` per bucket key of its windows (`RedisWindowReader`), with no script (a
/// read-only script costs Redis more than the read). Both are one round trip, and every key is named by
/// `KeySchema`. The top keys take one or two (`RedisTopReader`).
public final class RedisHitStore: HitStore {
    public let maxRange: Int
    public let dedupPeriod: Int
    /// Whether hits add to the top sets that `top` reads (docs/top-keys.md); off saves two commands per
    /// counter per call, and `top` then fails. Never in a Redis Cluster (docs/cluster.md).
    public var keepsTopKeys: Bool { self.topKeys && self.client.isCluster != true }
    private let topKeys: Bool
    /// The connections to Redis, one per event loop (the service's roll-ups have a client of their own).
    public let client: RedisClient
    /// How every key is spelled.
    public let keys: KeySchema
    let clock: RedisClock
    /// Where the fold stands, for planning reads (docs/fold.md).
    let watermark = FoldWatermark()
    private let batcher: HitBatcher
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
        keepsTopKeys: Bool = true,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "hitcounter.redis")
    ) {
        self.init(
            client: RedisClient(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger),
            maxRange: maxRange, dedupPeriod: dedupPeriod, keys: KeySchema(prefix: keyPrefix), keepsTopKeys: keepsTopKeys, logger: logger
        )
    }

    public convenience init(
        client: RedisClient, maxRange: Int = 86_400, dedupPeriod: Int = 86_400, keys: KeySchema = KeySchema(), keepsTopKeys: Bool = true, logger: Logger
    ) {
        self.init(client: client, maxRange: maxRange, dedupPeriod: dedupPeriod, keys: keys, clock: RedisClock(), keepsTopKeys: keepsTopKeys, logger: logger)
    }

    init(client: RedisClient, maxRange: Int, dedupPeriod: Int, keys: KeySchema, clock: RedisClock, keepsTopKeys: Bool = true, logger: Logger) {
        precondition(maxRange >= 1, "maxRange must be at least one second")
        precondition(dedupPeriod >= 1, "dedupPeriod must be at least one second")
        self.clock = clock
        self.maxRange = maxRange
        self.dedupPeriod = dedupPeriod
        self.topKeys = keepsTopKeys
        self.client = client
        self.keys = keys
        self.health = RedisHealth(logger: logger)
        let memory = MinuteMemory()
        self.batcher = HitBatcher(eventLoops: client.eventLoops, route: { target in client.route(ofKey: { keys.counter(target.key).base }) }) { flight, eventLoop in
            Self.send(
                flight, on: eventLoop, client: client, keys: keys, clock: clock, maxRange: maxRange, dedupPeriod: dedupPeriod, topKeys: keepsTopKeys,
                memory: memory
            )
        }
    }

    public func hit(
        key: CounterKey, count: Int, id: HitID?, callback: String?, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop
    ) -> EventLoopFuture<HitReceipt> {
        self.health.observe(
            self.batcher.hit(HitBatcher.Target(key: key, second: second), count: count, id: id, callback: callback, trace: trace, on: eventLoop)
        )
    }

    public func hit(_ hits: [Hit], at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<[HitReceipt]> {
        let receipts = self.batcher.hit(
            hits.map { (HitBatcher.Target(key: $0.key, second: second), $0.count, $0.id, $0.callback) }, trace: trace, on: eventLoop
        )
        return self.health.observe(EventLoopFuture.whenAllSucceed(receipts, on: eventLoop))
    }

    public func keys(prefix: String, cursor: String?, limit: Int) async throws -> KeyPage {
        try await RedisKeyScan(client: self.client, keys: self.keys, maxRange: self.maxRange, clock: self.clock).page(prefix: prefix, cursor: cursor, limit: limit)
    }

    /// Top sets taken out of per call.
    static let topSetsPerResetCall = 4000
    /// Keys deleted per call: a counter with a million ids is deleted in 4,000 short calls, not one that
    /// holds Redis for a second. 1,000 a call took 4.4 ms at the median and up to 12 ms under load; 250,
    /// about 1 ms and at most 5.
    static let keysPerResetCall = 250

    public func reset(key: CounterKey) async throws {
        let counter = self.keys.counter(key)
        var found: [[UInt8]] = []
        var cursor = "0"
        repeat {
            let names: [[UInt8]]
            // In a cluster, on the node of the counter's slot, which holds every key of it.
            (cursor, names) = try await RedisKeyScan.scan(self.client, from: cursor, matching: self.keys.allKeysPattern(of: key), routedBy: counter.base)
            found += names
        } while cursor != "0"
        // The buckets a hit may be writing while this runs (this slice and the next of every level) go in
        // one call, atomic against hits, which are script calls too: no hit is half reset. The other keys
        // (older buckets, ids, callbacks) no hit writes any more but a new id's: they go in calls of
        // `keysPerResetCall`, so no call holds Redis long. A key made after the scan is left (an id
        // counted during the reset stays counted).
        let now = self.clock.second()
        var live: [[UInt8]] = []
        for series in CounterKeys.Series.allCases {
            for level in BucketLevel.allCases {
                let slice = level.sliceStart(now)
                live += [counter.bucket(series, level, sliceStart: slice), counter.bucket(series, level, sliceStart: slice + level.span)]
            }
        }
        let liveSet = Set(live)
        let rest = Array(Set(found).subtracting(liveSet))
        // Every minute's and hour's top set the max range reaches, newest first.
        var topSets: [[UInt8]] = []
        if self.keepsTopKeys {
            for level in [BucketLevel.minutes, .hours] {
                let newest: Int64 = level.unitStart(now) + level.unit
                let oldest: Int64 = level.unitStart(now - Int64(self.maxRange)) - level.unit
                for unitStart in stride(from: newest, through: oldest, by: -Int(level.unit)) {
                    topSets.append(self.keys.topKeys(level, unitStart: unitStart))
                }
            }
        }
        // With the live buckets, the most recent top sets, so a `/top` read never sees the counter's
        // recent score beside buckets that no longer hold it.
        let loop = self.client.eventLoop
        let first = min(topSets.count, Self.topSetsPerResetCall)
        _ = try await self.health.observe(self.client.run(ResetScript(key: key, counterKeys: live, topSets: Array(topSets[..<first])), on: loop)).get()
        // A few calls in each round trip: each still runs alone in Redis, and others' commands go between.
        let pages = rest.chunks(of: Self.keysPerResetCall)
        for together in pages.chunks(of: 8) {
            let calls = together.map { self.client.run(ResetScript(key: key, counterKeys: $0, topSets: []), on: loop) }
            _ = try await EventLoopFuture.whenAllSucceed(calls, on: loop).get()
        }
        for start in stride(from: first, to: topSets.count, by: Self.topSetsPerResetCall) {
            let sets = Array(topSets[start..<min(start + Self.topSetsPerResetCall, topSets.count)])
            _ = try await self.client.run(ResetScript(key: key, counterKeys: [], topSets: sets), on: loop).get()
        }
    }

    public func hits(key: CounterKey, range: Int, unique: Bool, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<Int64> {
        let folded = self.foldedBefore()
        return self.read(key, unique: unique, at: second, trace: trace, on: eventLoop) { now in [WindowPlan(now: now, range: range, foldedBefore: folded)] }
            .map { $0.hits[0] }
    }

    public func counts(key: CounterKey, ranges: [Int], unique: Bool, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<WindowCounts> {
        let folded = self.foldedBefore()
        return self.read(key, unique: unique, at: second, trace: trace, on: eventLoop) { now in ranges.map { WindowPlan(now: now, range: $0, foldedBefore: folded) } }
            .map { WindowCounts(now: $0.now, ranges: ranges, hits: $0.hits) }
    }

    public func series(key: CounterKey, range: Int, step: Int, unique: Bool, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<HitSeries> {
        let folded = self.foldedBefore()
        return self.read(key, unique: unique, at: second, trace: trace, on: eventLoop) { now in
            SeriesPlan(now: now, range: range, step: step, foldedBefore: folded).steps.map(\.window)
        }
            .map { read in
                let steps = SeriesPlan(now: read.now, range: range, step: step, foldedBefore: folded).steps
                let points = zip(steps, read.hits).map { HitSeries.Point(start: $0.start, hits: $1, partial: $0.partial) }
                return HitSeries(now: read.now, range: range, step: step, points: points)
            }
    }

    public func top(range: Int, limit: Int, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<TopKeys> {
        let reader = RedisTopReader(client: self.client, keys: self.keys, clock: self.clock, foldedBefore: self.foldedBefore(), trace: trace)
        // The first call may be the one that finds Redis is a cluster, which keeps no top sets.
        let read = self.client.withRouting(on: eventLoop) { routing -> EventLoopFuture<TopKeys> in
            guard !routing.isCluster else { return eventLoop.makeFailedFuture(HitCounter.TopKeysOff()) }
            return reader.top(range: range, limit: limit, now: second ?? self.clock.second(), driven: second != nil, on: eventLoop)
        }
        return self.health.observe(read).hop(to: eventLoop)
    }

    /// The first minute the fold may not have reached: reads take it and later minutes from the seconds.
    private func foldedBefore() -> Int64 {
        self.watermark.current(client: self.client, keys: self.keys)
    }

    /// One read of windows of `key` that all end at the same second, planned for Redis's clock (or the
    /// driven `second`): one round trip, whatever the number of windows.
    private func read(
        _ key: CounterKey, unique: Bool, at second: Int64?, trace: TraceParent?, on eventLoop: any EventLoop,
        windows: @escaping @Sendable (Int64) -> [WindowPlan]
    ) -> EventLoopFuture<(now: Int64, hits: [Int64])> {
        let reader = RedisWindowReader(
            client: self.client, counterKeys: self.keys.counter(key), series: unique ? .unique : .hits, clock: self.clock, trace: trace
        )
        let read = reader.read(now: second ?? self.clock.second(), driven: second != nil, windows: windows, on: eventLoop)
        return self.health.observe(read).hop(to: eventLoop)
    }

    /// Succeeds when Redis would take a hit now: it answers, and would accept a write (in a cluster,
    /// every slot has a primary and every primary would). Until it has once, it also asks for the fold's
    /// watermark, so a replica is ready only once its reads take folded minutes whole.
    public func ping() async throws {
        let eventLoop = self.client.eventLoop
        let probe = eventLoop.makeFutureWithTask { try await self.client.runOnEveryPrimary(WriteProbeScript()) }
        _ = try await self.health.observe(probe).get()
        if !self.watermark.isKnown { try await self.watermark.ask(client: self.client, keys: self.keys).get() }
    }

    /// Closes the connection to Redis. Calls after this fail.
    public func shutdown() {
        self.client.shutdown()
    }

    /// One flight: a script call per driven second (one, for live traffic), each planned again while
    /// Redis is in another minute. Answers each counter's outcome, in order.
    /// In a Redis Cluster, a call per hash slot as well (Redis runs a script only when its keys share
    /// one); the calls to one primary share its connection's write.
    private static func send(
        _ flight: [(HitBatcher.Target, HitBatcher.Batch)], on eventLoop: any EventLoop, client: RedisClient, keys: KeySchema, clock: RedisClock,
        maxRange: Int, dedupPeriod: Int, topKeys: Bool, memory: MinuteMemory
    ) -> EventLoopFuture<[HitBatcher.Outcome]> {
        client.withRouting(on: eventLoop) { routing in
            let clustered = routing.isCluster
            return Self.send(
                flight, on: eventLoop, client: client, keys: clustered ? keys.inCluster() : keys, clock: clock, maxRange: maxRange, dedupPeriod: dedupPeriod,
                topKeys: topKeys && !clustered, clustered: clustered, memory: memory
            )
        }
    }

    private struct Call: Hashable {
        let second: Int64?
        /// In a cluster, the hash slot of the call's counters.
        let slot: Int
    }

    private static func send(
        _ flight: [(HitBatcher.Target, HitBatcher.Batch)], on eventLoop: any EventLoop, client: RedisClient, keys: KeySchema, clock: RedisClock,
        maxRange: Int, dedupPeriod: Int, topKeys: Bool, clustered: Bool, memory: MinuteMemory
    ) -> EventLoopFuture<[HitBatcher.Outcome]> {
        var groups: [Call: [Int]] = [:]
        var order: [Call] = []
        // Hits without ids or callbacks go as plain commands (`HitTransaction`), the others in scripts.
        var plainGroups: [Call: [Int]] = [:]
        var plainOrder: [Call] = []
        for (index, (target, batch)) in flight.enumerated() {
            let call = Call(second: target.second, slot: clustered ? HashSlot.of(keys.counter(target.key).base) : 0)
            if batch.ids.isEmpty, batch.callbacks.isEmpty, batch.count > 0 {
                if plainGroups[call] == nil { plainOrder.append(call) }
                plainGroups[call, default: []].append(index)
                continue
            }
            if groups[call] == nil { order.append(call) }
            groups[call, default: []].append(index)
        }
        // Every call's first try goes in one write, with one `WAIT` after them all (a flight's counters
        // are all on one primary); a call planned again goes on its own.
        let planned = order.flatMap { group in Self.calls(groups[group]!, of: flight).map { (group, $0) } }.map { group, parts in
            let counters = parts.map { part in
                let (target, batch) = flight[part.index]
                return HitScript.Counter(
                    key: target.key, count: part.isFirst ? batch.count : 0, ids: Array(batch.ids[part.ids]), callbacks: part.isFirst ? batch.callbacks : []
                )
            }
            // Each traced caller gets a child span for the call its hits are in.
            let members = parts.filter(\.isFirst).map(\.index)
            let attempt = Attempt(
                counters: counters, second: group.second, slot: group.slot, traces: members.flatMap { flight[$0].1.traces },
                calls: members.reduce(0) { $0 + flight[$1].1.calls }
            )
            return (parts, attempt)
        }
        let context = Context(client: client, keys: keys, clock: clock, maxRange: maxRange, dedupPeriod: dedupPeriod, topKeys: topKeys, memory: memory)
        // The transactions go in one write, with one `WAIT` after them all, as the script calls do.
        let plain = plainOrder.flatMap { group in
            plainGroups[group]!.chunks(of: Self.maxCallWeight).map { members in
                let attempt = Attempt(
                    counters: members.map { HitScript.Counter(key: flight[$0].0.key, count: flight[$0].1.count, ids: [], callbacks: []) },
                    second: group.second, slot: group.slot, traces: members.flatMap { flight[$0].1.traces },
                    calls: members.reduce(0) { $0 + flight[$1].1.calls }
                )
                return (members, context.prepare(attempt))
            }
        }
        let transactionSentAt = RedisClock.localMicroseconds()
        let ran = client.transact(
            together: plain.map { ($0.1.transaction.commands, $0.1.transaction.route) }, on: eventLoop, tracing: plain.map { $0.1.attempt.traces },
            attributes: plain.map { $0.1.attempt.attributes }, replicated: true
        )
        let transactions = zip(plain, ran).map { planned, replies in
            let (members, prepared) = planned
            return context.settle(replies, of: prepared, sentAt: transactionSentAt, on: eventLoop)
                .map { outcomes in zip(members, outcomes).map { $0 } }
                .recover { error in members.map { ($0, .failure(error)) } }
        }
        let sentAt = RedisClock.localMicroseconds()
        let scripts = planned.map { context.script($0.1, planned: $0.1.second ?? clock.second()) }
        let replies = client.run(
            together: scripts, on: eventLoop, tracing: planned.map { $0.1.traces }, attributes: planned.map { $0.1.attributes }, replicated: true
        )
        let calls = zip(planned, replies).map { planned, reply in
            let (parts, attempt) = planned
            return context.settle(reply, of: attempt, sentAt: sentAt, on: eventLoop)
                .map { outcomes in zip(parts.map(\.index), outcomes).map { $0 } }
                // A call that failed fails its own counters only (in a cluster, one shard may be down).
                .recover { error in parts.map { ($0.index, .failure(error)) } }
        }
        return EventLoopFuture.whenAllSucceed(transactions + calls, on: eventLoop).map { results in
            var outcomes = [HitBatcher.Outcome?](repeating: nil, count: flight.count)
            // A counter's parts come in order: their ids' flags join in order, and one failed part fails it.
            for (index, outcome) in results.joined() {
                outcomes[index] = outcomes[index].map { earlier in
                    earlier.flatMap { first in outcome.map { (first.second, first.counted + $0.counted) } }
                } ?? outcome
            }
            return outcomes.map { $0 ?? .failure(RedisError.protocolError("no outcome")) }
        }
    }

    /// The most work one script call carries: a counter, and each of its ids, is one unit (30 to 55 µs
    /// of Redis each). A flight or a batch with more is split into calls of at most this many, sent in
    /// one write: Redis runs each call alone, so a 1,000-hit batch never holds it in one long call
    /// (30 to 55 ms in one; a call of at most this many takes about 2 to 3.5 ms). Group commit's
    /// flights rarely reach it: 64 connections make flights of at most 64 counters.
    static let maxCallWeight = 64

    /// A piece of one counter's hits in one call: the first carries its count without ids and its
    /// callbacks; its ids go in runs.
    private struct Part {
        let index: Int
        let ids: Range<Int>
        let isFirst: Bool
    }

    /// `members`' hits in order, cut into calls of at most `maxCallWeight` units; a counter with more
    /// ids than fit is split across calls.
    private static func calls(_ members: [Int], of flight: [(HitBatcher.Target, HitBatcher.Batch)]) -> [[Part]] {
        var calls: [[Part]] = [[]]
        var weight = 0
        for index in members {
            let ids = flight[index].1.ids.count
            var next = 0
            repeat {
                // Room for the counter, and for one of its ids if it has any left.
                if weight + (next < ids ? 2 : 1) > Self.maxCallWeight {
                    calls.append([])
                    weight = 0
                }
                let taken = min(ids - next, Self.maxCallWeight - 1 - weight)
                calls[calls.count - 1].append(Part(index: index, ids: next..<(next + taken), isFirst: next == 0))
                weight += 1 + taken
                next += taken
            } while next < ids
        }
        return calls
    }

    /// One script call's counters, and where it stands.
    private struct Attempt: Sendable {
        let counters: [HitScript.Counter]
        /// The driven second, for tests; nil for Redis's clock.
        let second: Int64?
        let slot: Int
        let traces: [TraceParent]
        /// The requests whose hits are in the call.
        let calls: Int
        var number = 1

        var attributes: SpanAttributes {
            var attributes: SpanAttributes = [:]
            if !self.traces.isEmpty {
                attributes["hitcounter.batch.counters"] = self.counters.count
                attributes["hitcounter.batch.calls"] = self.calls
                attributes["hitcounter.attempt"] = self.number
            }
            return attributes
        }
    }

    /// What every call of a flight shares.
    private struct Context: Sendable {
        let client: RedisClient
        let keys: KeySchema
        let clock: RedisClock
        let maxRange: Int
        let dedupPeriod: Int
        let topKeys: Bool
        let memory: MinuteMemory

        /// A transaction planned: its counters, and its commands.
        struct PlainAttempt: Sendable {
            let attempt: Attempt
            let transaction: HitTransaction
            let sharedFirst: Bool
        }

        /// Plans `attempt`'s counters (hits without ids or callbacks) as plain commands (`HitTransaction`).
        /// `settle` then does what the script would have done inside: moves the hits to Redis's second if
        /// that was not the planned one, takes back a failed counter's commands that ran, and counts
        /// through the script what the transaction could not (a saturated unit, another minute than
        /// planned, a transaction that did not run), and answers each counter's outcome, in order, once
        /// all of that is done.
        func prepare(_ attempt: Attempt) -> PlainAttempt {
            let planned = attempt.second ?? self.clock.second()
            let minute = BucketLevel.minutes.unitStart(planned)
            let unwritten = self.memory.unwritten(attempt.counters.map(\.key), slot: attempt.slot, minute: minute)
            let transaction = HitTransaction(
                keys: self.keys, counters: zip(attempt.counters, unwritten.counters).map { HitTransaction.Counter(key: $0.key, count: $0.count, isFirst: $1) },
                second: planned, driven: attempt.second != nil, maxRange: self.maxRange, topKeys: self.topKeys, slot: attempt.slot, sharedFirst: unwritten.shared
            )
            return PlainAttempt(attempt: attempt, transaction: transaction, sharedFirst: unwritten.shared)
        }

        /// Each counter's outcome from `prepared`'s transaction, once the store has done what its replies ask.
        func settle(
            _ ran: EventLoopFuture<[RESPValue]?>, of prepared: PlainAttempt, sentAt: Int64, on eventLoop: any EventLoop
        ) -> EventLoopFuture<[HitBatcher.Outcome]> {
            let attempt = prepared.attempt, transaction = prepared.transaction
            let planned = transaction.second
            let minute = BucketLevel.minutes.unitStart(planned)
            return ran.flatMap { replies -> EventLoopFuture<[HitBatcher.Outcome]> in
                // Nothing ran (a slot being migrated, a command refused as queued): the script counts them.
                guard let replies else { return self.throughScript(attempt, Array(attempt.counters.indices), on: eventLoop) }
                let time: (second: Int64, microseconds: Int64)
                do { time = try HitTransaction.time(replies) } catch { return eventLoop.makeFailedFuture(error) }
                if attempt.second == nil { self.clock.observe(second: time.second, microseconds: time.microseconds, sentAt: sentAt) }
                let actual = attempt.second ?? time.second
                let sameMinute = BucketLevel.minutes.unitStart(actual) == minute
                var outcomes = [HitBatcher.Outcome?](repeating: nil, count: attempt.counters.count)
                var fixes: [RedisCommand] = []
                var counted: [HitTransaction.Counter] = []
                var again: [Int] = []
                for (index, outcome) in transaction.outcomes(replies).enumerated() {
                    switch outcome {
                    case .failed(let error):
                        fixes += transaction.undo(index, replies)
                        outcomes[index] = .failure(error)
                    case .saturated:
                        fixes += transaction.undo(index, replies)
                        again.append(index)
                    case .counted where !sameMinute:
                        // Counted in the planned minute's keys, which Redis is not in: taken back, counted again.
                        fixes += transaction.undo(index, replies)
                        again.append(index)
                    case .counted:
                        counted.append(transaction.counters[index])
                        outcomes[index] = .success((actual, []))
                    }
                }
                if sameMinute { self.memory.wrote(counted.map(\.key), slot: attempt.slot, shared: prepared.sharedFirst, minute: minute) }
                if actual != planned { fixes += transaction.move(counted, to: actual) }
                let fixed = fixes.isEmpty
                    ? eventLoop.makeSucceededFuture(())
                    : self.client.transact(fixes, routedBy: transaction.route, on: eventLoop, tracing: attempt.traces, replicated: true).flatMapThrowing { done in
                        guard done != nil else { throw RedisError.protocolError("a hit's correction did not run") }
                    }
                let known = outcomes, recount = again
                // Counted in a minute that had closed by Redis's clock: a fold between the count and its
                // taking back may have seen it, so the minute is folded again for these counters, from
                // what is left (docs/fold.md). A minute still open (the plan ahead of Redis) needs nothing.
                let refolded = BucketLevel.minutes.unitStart(actual) <= minute ? fixed : fixed.flatMap {
                    self.client.run(
                        FoldScript(
                            keys: self.keys, counters: transaction.counters.map(\.key), minute: minute, second: attempt.second, maxRange: self.maxRange,
                            topKeys: self.topKeys, slot: attempt.slot, again: true
                        ),
                        on: eventLoop, tracing: attempt.traces, attributes: attempt.attributes, replicated: true
                    ).map { _ in }.flatMapErrorThrowing { error in
                        guard error is FoldScript.MinuteNotClosed else { throw error }
                    }
                }
                return refolded.flatMap { () -> EventLoopFuture<[HitBatcher.Outcome]> in
                    self.throughScript(attempt, recount, on: eventLoop).map { recounts in
                        var outcomes = known
                        for (index, outcome) in zip(recount, recounts) { outcomes[index] = outcome }
                        return outcomes.map { $0 ?? .failure(RedisError.protocolError("no outcome")) }
                    }
                }
            }
        }

        /// The counters at `indexes` of `attempt`, counted by the script (planned again as it needs).
        private func throughScript(_ attempt: Attempt, _ indexes: [Int], on eventLoop: any EventLoop) -> EventLoopFuture<[HitBatcher.Outcome]> {
            guard !indexes.isEmpty else { return eventLoop.makeSucceededFuture([]) }
            let again = Attempt(counters: indexes.map { attempt.counters[$0] }, second: attempt.second, slot: attempt.slot, traces: attempt.traces, calls: attempt.calls)
            let sentAt = RedisClock.localMicroseconds()
            let reply = self.client.run(
                self.script(again, planned: again.second ?? self.clock.second()), on: eventLoop, tracing: again.traces, attributes: again.attributes,
                replicated: true
            )
            return self.settle(reply, of: again, sentAt: sentAt, on: eventLoop)
        }

        /// The call for `attempt`'s counters, with the keys of the minute of `planned`.
        func script(_ attempt: Attempt, planned: Int64) -> HitScript {
            HitScript(
                keys: self.keys, counters: attempt.counters, minute: BucketLevel.minutes.unitStart(planned), second: attempt.second,
                maxRange: self.maxRange, dedupPeriod: self.dedupPeriod, topKeys: self.topKeys, slot: attempt.slot
            )
        }

        /// Each counter's outcome from the call's reply; a call planned for another minute than Redis's
        /// is planned again for Redis's minute, not for the estimate, which runs ahead of Redis by the
        /// last call's delay (see `RedisClock.read`), and sent on its own.
        func settle(
            _ reply: EventLoopFuture<HitScript.Reply>, of attempt: Attempt, sentAt: Int64, on eventLoop: any EventLoop
        ) -> EventLoopFuture<[HitBatcher.Outcome]> {
            reply.flatMap { reply in
                self.clock.observe(second: reply.second, microseconds: reply.microseconds, sentAt: sentAt)
                guard let counted = reply.counted else {
                    guard attempt.number < RedisHitStore.maxReplans else { return eventLoop.makeFailedFuture(RedisError.clockMoved) }
                    var next = attempt
                    next.number += 1
                    let sentAt = RedisClock.localMicroseconds()
                    let again = self.client.run(
                        self.script(next, planned: attempt.second ?? reply.second), on: eventLoop, tracing: next.traces, attributes: next.attributes,
                        replicated: true
                    )
                    return self.settle(again, of: next, sentAt: sentAt, on: eventLoop)
                }
                let counters = attempt.counters
                guard counted.count == counters.count else { return eventLoop.makeFailedFuture(HitScript.unexpected(.integer(Int64(counted.count)))) }
                return eventLoop.makeSucceededFuture(zip(counters, counted).map { counter, result in
                    result.mapError { $0 as any Error }.flatMap { flags in
                        flags.count == counter.ids.count ? .success((reply.second, flags)) : .failure(HitScript.unexpected(.integer(Int64(flags.count))))
                    }
                })
            }
        }
    }
}
