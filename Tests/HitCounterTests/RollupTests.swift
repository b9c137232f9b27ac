import Foundation
import HitCounter
import Synchronization
import TestSupport
import Testing

/// The per-minute roll-up on a real Redis, with driven time: each closed minute reaches each sink
/// once, whichever replica holds the lock, and even when the holder dies.
@Suite struct RollupTests {
    static let minute: Int64 = 1_800_000_000  // a minute's first second

    @Test func emitsEachClosedMinuteOnceWithHitsUniqueIDsAndCallbacks() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let m = Self.minute
            try await store.hit(key: "a", count: 2, at: m + 5)
            _ = try await store.hit(key: "b", count: 1, id: "x", callback: "http://cb/1", at: m + 5)
            _ = try await store.hit(key: "b", count: 1, id: "y", callback: nil, at: m + 30)
            _ = try await store.hit(key: "b", count: 1, id: "x", callback: nil, at: m + 31)  // a duplicate
            try await store.hit(key: "a", count: 1, at: m + 59)
            try await store.hit(key: "a", count: 7, at: m + 60)

            let clock = TestClock(m + 61)
            let sink = CollectingSink("test")
            let emitter = RollupEmitter(store: store, sinks: [sink], configuration: .init(name: "replica-1"), clock: clock.read)
            #expect(try await emitter.runOnce() == 0, "minute \(m) closed 1 s ago: 2 s are left for late writes")
            clock.set(m + 62)
            #expect(try await emitter.runOnce() == 1)
            #expect(sink.events == [
                RollupEvent(key: "a", minute: m, hits: 3, unique: 0, emittedBy: "replica-1"),
                RollupEvent(key: "b", minute: m, hits: 2, unique: 2, emittedBy: "replica-1", callbacks: ["http://cb/1"]),
            ])
            #expect(try await emitter.runOnce() == 0, "the next minute is still open")
            clock.set(m + 122)
            #expect(try await emitter.runOnce() == 1)
            #expect(sink.events.last == RollupEvent(key: "a", minute: m + 60, hits: 7, unique: 0, emittedBy: "replica-1"))
            #expect(sink.events.last?.json == #"{"key":"a","minute":1800000060,"hits":7,"unique":0,"emittedBy":"replica-1"}"#)
            #expect(sink.events.count == 3)
        }
    }

    @Test func aMinuteReachedAfterTheMaxRangeIsSkippedAndTheRestAreTold() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration, maxRange: 120)
            defer { store.shutdown() }
            let m = Self.minute
            try await store.hit(key: "a", count: 2, at: m + 5)
            try await store.hit(key: "a", count: 1, at: m + 65)
            let clock = TestClock(m + 61)
            let sink = CollectingSink("test")
            let emitter = RollupEmitter(store: store, sinks: [sink], configuration: .init(name: "replica-1"), clock: clock.read)
            #expect(try await emitter.runOnce() == 0, "the positions start at minute \(m), which closed 1 s ago")
            // The roll-up was down: minute m closed 125 s ago, more than the max range, and its seconds have
            // expired (the test drives time; Redis would have dropped them by now). Minute m + 60 closed 65 s ago.
            clock.set(m + 185)
            #expect(try await emitter.runOnce() == 2, "minutes m + 60 and m + 120 are told; m is skipped")
            #expect(sink.events == [RollupEvent(key: "a", minute: m + 60, hits: 1, unique: 0, emittedBy: "replica-1")])
            let position = try redis.cli(["GET", String(decoding: store.keys.rollupCursor(sink: "fold"), as: UTF8.self)])
            #expect(position.trimmingCharacters(in: .whitespacesAndNewlines) == "\(m + 180)", "the fold is past every closed minute, m skipped")
        }
    }

    @Test func aPositionMayLagAsLongAsTheMaxRangeWhenThatIsOverADay() async throws {
        try await withRedisServer { redis in
            let day: Int64 = 86_400
            let store = RedisHitStore(configuration: redis.configuration, maxRange: 2 * Int(day))
            defer { store.shutdown() }
            let m = Self.minute
            try await store.hit(key: "a", count: 3, at: m + 5)
            let clock = TestClock(m + 61)
            let sink = CollectingSink("test")
            let emitter = RollupEmitter(store: store, sinks: [sink], configuration: .init(name: "replica-1"), clock: clock.read)
            #expect(try await emitter.runOnce() == 0)
            // Down for a day and ten minutes: with a day's horizon minute m would be skipped; windows of two
            // days read it, so it is folded and told.
            clock.set(m + day + 662)
            #expect(try await emitter.runOnce() == 1 + 24 * 60 + 10)
            #expect(sink.events == [RollupEvent(key: "a", minute: m, hits: 3, unique: 0, emittedBy: "replica-1")])
            #expect(try await store.hits(key: "a", range: 2 * Int(day), at: m + day + 662) == 3)
        }
    }

    @Test func twoReplicasRacingEmitEachMinuteOnce() async throws {
        try await withRedisServer { redis in
            let stores = (0..<2).map { _ in RedisHitStore(configuration: redis.configuration) }
            defer { stores.forEach { $0.shutdown() } }
            let m = Self.minute
            for index in 0..<10 {
                try await stores[index % 2].hit(key: CounterKey("k\(index % 3)"), count: 1, at: m + Int64(index) * 30)
            }
            let clock = TestClock(m + 62)
            let sinks = [CollectingSink("shared"), CollectingSink("shared")]
            let emitters = (0..<2).map { index in
                RollupEmitter(store: stores[index], sinks: [sinks[index]], configuration: .init(name: "replica-\(index)"), clock: clock.read)
            }
            for _ in 0..<14 {
                async let first = emitters[0].runOnce()
                async let second = emitters[1].runOnce()
                _ = try await (first, second)
                clock.advance(by: 30)
            }
            let events = sinks[0].events + sinks[1].events
            #expect(events.count == 10, "one event per key and minute: \(events)")
            #expect(Set(events.map { "\($0.minute)/\($0.key)" }).count == events.count, "none twice")
            #expect(events.reduce(0) { $0 + $1.hits } == 10)
            #expect(sinks[0].events.isEmpty || sinks[1].events.isEmpty, "one replica held the lock throughout")
        }
    }

    /// The lock's holder dies in the middle of a minute (it never releases the lock): once its lease
    /// runs out, the other replica takes over and emits that minute, once.
    @Test func whenTheHolderDiesMidMinuteTheOtherEmitsTheMinuteOnce() async throws {
        try await withRedisServer { redis in
            let stores = (0..<2).map { _ in RedisHitStore(configuration: redis.configuration) }
            defer { stores.forEach { $0.shutdown() } }
            let m = Self.minute
            var configuration = RollupEmitter.Configuration(name: "holder")
            configuration.lease = .seconds(5)
            let clock = TestClock(m + 20)
            let holderSink = CollectingSink("log")
            let holder = RollupEmitter(store: stores[0], sinks: [holderSink], configuration: configuration, clock: clock.read)
            configuration.name = "survivor"
            let survivorSink = CollectingSink("log")
            let survivor = RollupEmitter(store: stores[1], sinks: [survivorSink], configuration: configuration, clock: clock.read)

            _ = try await holder.runOnce()  // takes the lock in minute m
            #expect(try redis.cli(["GET", "hc:rollup:lock"]).hasPrefix("holder/"))
            try await stores[0].hit(key: "mid", count: 3, at: m + 25)
            try await stores[1].hit(key: "mid", count: 4, at: m + 40)
            // The holder dies here: no more passes, no release.
            clock.set(m + 62)
            #expect(try await survivor.runOnce() == 0, "the dead holder's lease still runs")
            try await Task.sleep(for: .milliseconds(5100))
            #expect(try await survivor.runOnce() == 1)
            #expect(survivorSink.events == [RollupEvent(key: "mid", minute: m, hits: 7, unique: 0, emittedBy: "survivor")])
            #expect(holderSink.events.isEmpty)
            #expect(try await survivor.runOnce() == 0, "not again")
        }
    }

    /// A failing sink is retried with backoff while the other sinks, and hits, carry on.
    @Test func aFailingSinkIsRetriedWithoutHoldingUpTheOthers() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let m = Self.minute
            try await store.hit(key: "k", count: 5, at: m + 1)
            let clock = TestClock(m + 62)
            let steady = CollectingSink("steady")
            let flaky = CollectingSink("flaky", failures: 2)
            let emitter = RollupEmitter(store: store, sinks: [steady, flaky], configuration: .init(name: "r"), clock: clock.read)

            let firstFailure = ContinuousClock.now
            #expect(try await emitter.runOnce() == 1, "steady delivered, flaky failed")
            #expect(steady.events.count == 1)
            #expect(flaky.events.isEmpty)
            #expect(try await emitter.runOnce() == 0, "flaky waits out its backoff")
            try await store.hit(key: "k", count: 1, at: m + 70)  // hits are not held up
            // Until flaky has its minute: the backoffs (0.5 s, then 1 s) keep it from trying at each pass.
            #expect(try await passEvery50Milliseconds { try await emitter.runOnce() } == 1)
            #expect(firstFailure.duration(to: .now) >= .milliseconds(1500), "two backoffs waited out")
            #expect(flaky.events == steady.events)
            #expect(flaky.attempts == 3, "two failures and a success: no attempt inside a backoff")
        }
    }
}

extension RollupTests {
    /// Counters of the minute, keys that need escaping among them, in byte order.
    static let pagedKeys: [CounterKey] = ((0..<10).map { CounterKey("k\($0)") } + ["a}b", "100%", "{x}"]).sorted {
        $0.bytes.lexicographicallyPrecedes($1.bytes)
    }

    static func hitPagedKeys(_ store: RedisHitStore) async throws {
        for (index, key) in Self.pagedKeys.enumerated() {
            try await store.hit(key: key, count: index + 1, at: Self.minute + 3)
        }
    }

    /// A minute of 13 counters read 3 at a time: every sink gets each event once, in key order; a
    /// sink that fails on a page resumes at that page, not at the start of the minute.
    @Test func aMinuteIsDeliveredInPagesOnceEach() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            try await Self.hitPagedKeys(store)
            var configuration = RollupEmitter.Configuration(name: "r")
            configuration.pageSize = 3
            let steady = CollectingSink("steady")
            let flaky = CollectingSink("flaky", failingAttempts: [2])
            let emitter = RollupEmitter(store: store, sinks: [steady, flaky], configuration: configuration, clock: TestClock(Self.minute + 62).read)

            #expect(try await emitter.runOnce() == 1, "steady finished the minute; flaky failed its second page")
            #expect(flaky.events.map(\.key) == Array(Self.pagedKeys.prefix(3)))
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await emitter.runOnce() == 1)
            #expect(steady.events.map(\.key) == Self.pagedKeys)
            #expect(steady.events.map(\.hits) == Array(1...Int64(Self.pagedKeys.count)))
            #expect(flaky.events == steady.events)
            #expect(flaky.attempts == 6, "5 pages and one failure")
            #expect(try await emitter.runOnce() == 0)
        }
    }

    /// The holder dies after delivering the first page: the survivor takes the lock after the lease
    /// and delivers the rest of the minute, so every event is delivered exactly once between them.
    @Test func whenTheHolderDiesBetweenPagesTheSurvivorResumesAtThePage() async throws {
        try await withRedisServer { redis in
            let stores = (0..<2).map { _ in RedisHitStore(configuration: redis.configuration) }
            defer { stores.forEach { $0.shutdown() } }
            try await Self.hitPagedKeys(stores[0])
            let (holderSink, survivorSink) = try await Self.holderDiesAfterItsFirstPage(stores, now: Self.minute + 62, pageSize: 3, lease: .seconds(3))
            #expect(holderSink.events.map(\.key) == Array(Self.pagedKeys.prefix(3)))
            #expect(survivorSink.events.map(\.key) == Array(Self.pagedKeys.dropFirst(3)))
            #expect(survivorSink.events.allSatisfy { $0.emittedBy == "survivor" })
        }
    }
}

extension RollupTests {
    /// The emitter on `stores[0]` (the holder) delivers its first page of `pageSize` and hangs on the
    /// second; the one on `stores[1]` (the survivor) gets nothing while the holder's `lease` runs, then
    /// takes the lock and delivers the rest of the minute. Answers what each sink was given.
    static func holderDiesAfterItsFirstPage(
        _ stores: [RedisHitStore], now: Int64, pageSize: Int, lease: Duration
    ) async throws -> (holder: CollectingSink, survivor: CollectingSink) {
        var configuration = RollupEmitter.Configuration(name: "holder")
        configuration.pageSize = pageSize
        configuration.lease = lease
        let clock = TestClock(now)
        let holderSink = CollectingSink("log", hangingAttempts: [2])
        let holder = RollupEmitter(store: stores[0], sinks: [holderSink], configuration: configuration, clock: clock.read)
        configuration.name = "survivor"
        let survivorSink = CollectingSink("log")
        let survivor = RollupEmitter(store: stores[1], sinks: [survivorSink], configuration: configuration, clock: clock.read)

        let dying = Task { try await holder.runOnce() }
        while holderSink.attempts < 2 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(try await survivor.runOnce() == 0, "the holder's lease still runs")
        try await Task.sleep(for: lease + .milliseconds(100))
        #expect(try await survivor.runOnce() == 1)
        dying.cancel()
        _ = try? await dying.value
        return (holderSink, survivorSink)
    }
}

/// Driven time for the emitter.
final class TestClock: Sendable {
    private let now: Atomic<Int64>
    init(_ now: Int64) { self.now = Atomic(now) }
    var read: @Sendable () -> Int64 { { self.now.load(ordering: .relaxed) } }
    func set(_ now: Int64) { self.now.store(now, ordering: .relaxed) }
    func advance(by seconds: Int64) { self.now.add(seconds, ordering: .relaxed) }
}

/// Keeps what it is given; fails its first `failures` deliveries, and the deliveries numbered in
/// `failingAttempts` (from 1); hangs until cancelled on those in `hangingAttempts`.
final class CollectingSink: RollupSink {
    let name: String
    private let failingAttempts: Set<Int>
    private let hangingAttempts: Set<Int>
    private let state: Mutex<(events: [RollupEvent], failures: Int, attempts: Int)>

    init(_ name: String, failures: Int = 0, failingAttempts: Set<Int> = [], hangingAttempts: Set<Int> = []) {
        self.name = name
        self.failingAttempts = failingAttempts
        self.hangingAttempts = hangingAttempts
        self.state = Mutex(([], failures, 0))
    }

    var events: [RollupEvent] { self.state.withLock { $0.events } }
    var attempts: Int { self.state.withLock { $0.attempts } }

    func deliver(_ events: [RollupEvent]) async throws {
        let attempt = self.state.withLock { state in
            state.attempts += 1
            return state.attempts
        }
        if self.hangingAttempts.contains(attempt) {
            try await Task.sleep(for: .seconds(600))
        }
        try self.state.withLock { state in
            if state.failures > 0 || self.failingAttempts.contains(attempt) {
                state.failures = max(0, state.failures - 1)
                throw RedisServerError("\(self.name) is down")
            }
            state.events += events
        }
    }
}
