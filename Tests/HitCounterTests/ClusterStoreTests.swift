import Foundation
import NIOCore
import Synchronization
import TestSupport
import Testing

@testable import HitCounter

/// The store on a real six-node Redis Cluster (docs/cluster.md): exact counts over every primary from
/// two replicas, ids exactly-once, redirects followed while a slot moves, a failover under load, a
/// resharding under load, and roll-ups exactly once per minute and key.
///
/// Run on their own, as `scripts/test` does: each starts six nodes and loads both cores.
/// `HITCOUNTER_CLUSTER_TESTS=1 swift test --skip-build --filter Cluster`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["HITCOUNTER_CLUSTER_TESTS"] == "1")) struct ClusterStoreTests {
    static func store(_ cluster: RedisCluster, waitReplicas: Int = 0) -> RedisHitStore {
        var configuration = try! RedisConfiguration(url: cluster.nodes.map { "redis://127.0.0.1:\($0.port)" }.joined(separator: ","))
        configuration.waitReplicas = waitReplicas
        // These tests check what is counted, not how fast: room for a machine busy with the other suites.
        configuration.commandTimeout = .seconds(5)
        return RedisHitStore(configuration: configuration)
    }

    /// Hits each counter once a round, with the round's number as its id, through the stores in turn
    /// (counter `i` through `stores[i % count]`), until cancelled. A failure goes to the group that
    /// `failed` names.
    static func hitInRounds(
        _ keys: [CounterKey], through stores: [RedisHitStore], tally: LoadTally, pause: Duration = .zero,
        failed: @escaping @Sendable (Int, CounterKey, any Error) -> String
    ) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                let round = tally.nextRound()
                await withTaskGroup(of: Void.self) { group in
                    for (index, key) in keys.enumerated() {
                        group.addTask {
                            do {
                                let receipt = try await stores[index % stores.count].hit(key: key, count: 1, id: HitID("r\(round)"), callback: nil, at: nil)
                                if receipt.counted { tally.acknowledge(key) }
                            } catch {
                                tally.fail(failed(index, key, error), error)
                            }
                        }
                    }
                }
                try? await Task.sleep(for: pause)
            }
        }
    }

    /// Hundreds of counters over all three primaries, hit through two replicas at once: every count
    /// and unique count exact, each id counted once across both, and every primary holds some.
    @Test func countsAreExactOverEveryPrimaryFromTwoReplicas() async throws {
        try await withRedisCluster { cluster in
            let stores = [Self.store(cluster), Self.store(cluster)]
            defer { stores.forEach { $0.shutdown() } }
            let keys = (0..<300).map { CounterKey("page-\($0)") }
            let receipts = try await withThrowingTaskGroup(of: [(CounterKey, Bool)].self) { group in
                for (index, key) in keys.enumerated() {
                    for store in stores {
                        group.addTask {
                            // Each replica: 2 hits without an id, then the same two ids as the other replica.
                            try await store.hit(key: key, count: 2, at: nil)
                            return try await [HitID("a"), HitID("b")].asyncMap { id in
                                (key, try await store.hit(key: key, count: 1 + index % 3, id: id, callback: nil, at: nil).counted)
                            }
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(stores[0].client.isCluster == true)
            for key in keys {
                let counted = receipts.filter { $0.0 == key && $0.1 }.count
                #expect(counted == 2, "\(key): each id counted once across the replicas")
            }
            for (index, key) in keys.enumerated() {
                #expect(try await stores[index % 2].hits(key: key, range: 60, at: nil) == 4 + 2 * Int64(1 + index % 3), "\(key)")
                #expect(try await stores[1 - index % 2].hits(key: key, range: 3600, unique: true, at: nil) == 2, "\(key)")
            }
            let primaries = try cluster.primaries()
            #expect(primaries.count == 3)
            for primary in primaries {
                #expect(Int(try primary.cli(["DBSIZE"]))! > 100, "primary \(primary.port) holds counters")
            }
            // The listing pages through every primary: each counter once.
            var listed: [CounterKey] = []
            var cursor: String?
            repeat {
                let page = try await stores[0].keys(prefix: "page-", cursor: cursor, limit: 100)
                listed += page.keys
                cursor = page.next
            } while cursor != nil
            #expect(listed.count == keys.count && Set(listed) == Set(keys))
            try await stores[1].ping()
        }
    }

    /// A slot moves from one primary to another by hand, as `redis-cli --cluster reshard` moves it:
    /// while its keys are on the new node but the slot is not yet, reads follow `ASK` and stay exact,
    /// and a hit waits (`TRYAGAIN`) until the move ends; afterwards the stale map is fixed by `MOVED`.
    @Test func readsFollowAskAndHitsFollowMovedWhileASlotMoves() async throws {
        try await withRedisCluster { cluster in
            let store = Self.store(cluster)
            defer { store.shutdown() }
            let key = CounterKey("moving")
            for _ in 0..<5 { try await store.hit(key: key, count: 3, at: nil) }
            _ = try await store.hit(key: key, count: 1, id: HitID("x"), callback: nil, at: nil)
            let slot = HashSlot.of(store.keys.counter(key).base)
            let source = try cluster.owner(ofSlot: slot)
            let target = try #require(try cluster.primaries().first { $0.port != source.port })
            let sourceID = try source.cli(["CLUSTER", "MYID"]), targetID = try target.cli(["CLUSTER", "MYID"])

            try target.cli(["CLUSTER", "SETSLOT", "\(slot)", "IMPORTING", sourceID])
            try source.cli(["CLUSTER", "SETSLOT", "\(slot)", "MIGRATING", targetID])
            let names = try source.cli(["CLUSTER", "GETKEYSINSLOT", "\(slot)", "100"]).split(separator: "\n").map(String.init)
            #expect(names.count >= 4, "the counter's buckets, unique series and id")
            #expect(try source.cli(["MIGRATE", "127.0.0.1", "\(target.port)", "", "0", "5000", "KEYS"] + names) == "OK")

            // Every key is on the target now; the source answers ASK for them.
            #expect(try await store.hits(key: key, range: 60, at: nil) == 16, "read through ASK")
            #expect(try await store.hits(key: key, range: 60, unique: true, at: nil) == 1)
            let hit = Task { try await store.hit(key: key, count: 4, at: nil) }
            try await Task.sleep(for: .milliseconds(100))
            for node in try cluster.primaries() { try node.cli(["CLUSTER", "SETSLOT", "\(slot)", "NODE", targetID]) }
            _ = try await hit.value
            #expect(try await store.hits(key: key, range: 60, at: nil) == 20)
            let receipt = try await store.hit(key: key, count: 1, id: HitID("x"), callback: nil, at: nil)
            #expect(!receipt.counted, "the id moved with its counter")
            #expect(Int(try target.cli(["CLUSTER", "COUNTKEYSINSLOT", "\(slot)"]))! >= names.count)
            #expect(try source.cli(["CLUSTER", "COUNTKEYSINSLOT", "\(slot)"]) == "0")
        }
    }

    /// With a wait for replicas, a flight waits once on its primary, not once per slot call: a batch
    /// over 300 counters (about 100 slots a primary, a transaction each) makes one `WAIT` on each
    /// primary, in the same write as its calls (one per call cost a hit 27 %, docs/cluster.md); and
    /// every hit counts once.
    @Test func aFlightWaitsForReplicasOncePerPrimary() async throws {
        try await withRedisCluster { cluster in
            let store = Self.store(cluster, waitReplicas: 1)
            defer { store.shutdown() }
            let counter = HitCounter(store: store)
            // The first hit finds the cluster's map (flights go per primary from then on), and the next
            // load the script on every primary (a primary without it answers NOSCRIPT, and the calls go
            // again after a `SCRIPT LOAD`, with a second `WAIT`).
            _ = try await counter.hit(key: "warm-up", count: 1, id: nil)
            _ = try await counter.hit((0..<30).map { Hit(key: CounterKey("warm-up-\($0)")) })
            let primaries = try cluster.primaries()
            for primary in primaries { _ = try primary.cli(["CONFIG", "RESETSTAT"]) }
            let keys = (0..<300).map { CounterKey("wait-\($0)") }
            let receipts = try await counter.hit(keys.map { Hit(key: $0) })
            #expect(receipts.count == keys.count)
            for primary in primaries {
                // Hits without ids: a transaction per slot (docs/fold.md).
                let calls = try primary.calls(of: "exec")
                #expect(calls >= 50, "about a hundred slot transactions on \(primary.port): \(calls)")
                #expect(try primary.calls(of: "wait") == 1, "one WAIT for \(calls) calls on \(primary.port)")
            }
            for key in keys {
                #expect(try await counter.hits(key: key, range: 60) == 1, "\(key)")
            }
        }
    }

    /// `kill -9` of a primary under load from two replicas, one acknowledging hits as soon as the
    /// primary stored them, one only once a replica has them too (`WAIT 1`):
    /// - the other shards are served all along, by both;
    /// - without the wait, the dead shard's counters fail (503) only until its replica took over, and
    ///   are served within a second of that;
    /// - with it, every acknowledged hit is counted after the failover (its shard then has no replica
    ///   left, so its hits fail until one joins again: that is what the setting promises);
    /// - no hit is counted twice.
    @Test func aPrimaryKilledUnderLoadFailsOverAndWaitingForAReplicaLosesNothing() async throws {
        try await withRedisCluster { cluster in
            let stores = [Self.store(cluster), Self.store(cluster, waitReplicas: 1)]
            defer { stores.forEach { $0.shutdown() } }
            let keys = (0..<60).map { CounterKey("fail-\($0)") }
            let victim = try cluster.primaries()[0]
            let victimSlots = Set(try cluster.slots(of: victim))
            let onVictim = Set(keys.filter { victimSlots.contains(HashSlot.of(stores[0].keys.counter($0).base)) })
            #expect(onVictim.count > 5 && onVictim.count < keys.count - 5)

            let tally = LoadTally()
            let load = Self.hitInRounds(keys, through: stores, tally: tally, pause: .milliseconds(20)) { index, key, error in
                #expect((error as? any StoreError)?.isRetriable == true, "\(error)")
                return onVictim.contains(key) ? (index % 2 == 1 ? "victim, waiting" : "victim") : "other"
            }
            try await Task.sleep(for: .milliseconds(500))
            let killedAt = ContinuousClock.now
            await victim.stop(kill: true)
            try await Task.sleep(for: .milliseconds(300))
            await #expect(throws: (any Error).self, "not ready while a shard has no primary that answers") { try await stores[0].ping() }
            let deadline = ContinuousClock.now + .seconds(15)
            while try !cluster.coversEverySlot(excluding: victim), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let failover = killedAt.duration(to: .now)
            try await Task.sleep(for: .seconds(2))
            load.cancel()
            await load.value

            let failedElsewhere = tally.failures("other")
            #expect(failedElsewhere.count == 0, "the other shards were served all along: \(failedElsewhere.prefix(3))")
            let failedOnVictim = tally.failures("victim")
            #expect(failedOnVictim.count > 0, "the dead shard failed for a while")
            let outage = killedAt.duration(to: try #require(tally.lastFailure("victim")))
            // Redis's own failover takes the node timeout (2 s) and an election; the service follows within a refresh.
            #expect(outage < failover + .seconds(1), "served again within a second of the failover: outage \(outage), failover \(failover)")
            let acknowledged = tally.acknowledged
            var lost = 0
            for (index, key) in keys.enumerated() {
                let counted = try await stores[0].hits(key: key, range: 300, unique: true, at: nil)
                #expect(counted <= Int64(tally.rounds), "\(key): none twice")
                if index % 2 == 1 {
                    #expect(counted >= acknowledged[key] ?? 0, "\(key): every hit acknowledged after WAIT 1 is counted")
                } else {
                    lost += Int(max(0, (acknowledged[key] ?? 0) - counted))
                }
            }
            print(
                "failover: \(tally.rounds) rounds of \(keys.count) hits, \(acknowledged.values.reduce(0, +)) acknowledged, failed on the dead shard \(failedOnVictim.count) without WAIT and \(tally.failures("victim, waiting").count) with WAIT 1, acknowledged without WAIT and lost \(lost), outage \(outage), Redis's failover \(failover)"
            )
        }
    }

    /// A primary that stops answering (`CLIENT PAUSE`, as a stalled or overloaded node does) holds back
    /// its own counters' hits only: hits on the other primaries, sent on the same event loop just after
    /// one that waits for it, are answered while it still waits; and that one counts once its primary
    /// answers again.
    @Test func aStalledPrimaryHoldsBackOnlyItsOwnCounters() async throws {
        try await withRedisCluster { cluster in
            let store = Self.store(cluster)
            defer { store.shutdown() }
            let eventLoop = store.client.eventLoop
            let keys = (0..<60).map { CounterKey("stall-\($0)") }
            // The first hits find the cluster and connect this loop to every primary.
            for key in keys { _ = try await store.hit(key: key, count: 1, id: nil, callback: nil, at: nil, on: eventLoop).get() }
            let stalled = try cluster.primaries()[0]
            let stalledSlots = Set(try cluster.slots(of: stalled))
            let held = try #require(keys.first { stalledSlots.contains(HashSlot.of(store.keys.counter($0).base)) })
            let others = keys.filter { !stalledSlots.contains(HashSlot.of(store.keys.counter($0).base)) }
            #expect(others.count > 20)

            try stalled.stall(milliseconds: 3000)
            let heldAnswered = AnsweredFlag()
            let heldHit = store.hit(key: held, count: 1, id: nil, callback: nil, at: nil, on: eventLoop)
            heldHit.whenComplete { _ in heldAnswered.set() }
            for key in others { _ = try await store.hit(key: key, count: 1, id: nil, callback: nil, at: nil, on: eventLoop).get() }
            #expect(!heldAnswered.isSet, "the other primaries' hits were answered while the stalled one's still waited")

            _ = try await heldHit.get()
            for key in others + [held] { #expect(try await store.hits(key: key, range: 60, at: nil) == 2, "\(key)") }
        }
    }

    /// `redis-cli --cluster reshard` moves a thousand slots holding live counters while two replicas
    /// send hits with unique ids: none fails, and afterwards each counter's count is what was
    /// acknowledged, none twice.
    @Test func reshardingUnderLoadLosesAndDoublesNothing() async throws {
        try await withRedisCluster { cluster in
            let stores = [Self.store(cluster), Self.store(cluster)]
            defer { stores.forEach { $0.shutdown() } }
            let keys = (0..<200).map { CounterKey("moved-\($0)") }
            let primaries = try cluster.primaries()
            let from = try primaries[0].cli(["CLUSTER", "MYID"]), to = try primaries[1].cli(["CLUSTER", "MYID"])

            let tally = LoadTally()
            let load = Self.hitInRounds(keys, through: stores, tally: tally) { _, _, _ in "any" }
            try await Task.sleep(for: .milliseconds(300))
            let reshard = try ChildProcess(try executable("redis-cli").path, [
                "--cluster", "reshard", "127.0.0.1:\(primaries[0].port)", "--cluster-from", from, "--cluster-to", to, "--cluster-slots", "1000",
                "--cluster-yes",
            ])
            let status = await reshard.wait(timeout: .seconds(120))
            try await Task.sleep(for: .milliseconds(300))
            load.cancel()
            await load.value
            #expect(status == 0, "redis-cli --cluster reshard succeeded")

            let acknowledged = tally.acknowledged
            let failures = tally.failures("any")
            #expect(failures.count == 0, "no hit failed: \(failures.prefix(3))")
            for key in keys {
                #expect(try await stores[0].hits(key: key, range: 300, unique: true, at: nil) == acknowledged[key] ?? 0, "\(key)")
                #expect(try await stores[1].hits(key: key, range: 300, at: nil) == acknowledged[key] ?? 0, "\(key)")
            }
            print("resharding: \(tally.rounds) rounds of \(keys.count) hits, \(acknowledged.values.reduce(0, +)) acknowledged")
        }
    }

    /// A minute of 120 counters on every primary, emitted in pages by two replicas' emitters; the
    /// first holder hangs after its first page and its lease runs out: the survivor delivers the rest.
    /// Each counter's event comes once, with its exact hits and unique ids.
    @Test func rollupsComeOncePerMinuteAndKeyAcrossTheCluster() async throws {
        try await withRedisCluster { cluster in
            let stores = [Self.store(cluster), Self.store(cluster)]
            defer { stores.forEach { $0.shutdown() } }
            let minute: Int64 = 1_796_016_000
            let keys = (0..<120).map { CounterKey("roll-\($0)") }
            for (index, key) in keys.enumerated() {
                try await stores[index % 2].hit(key: key, count: index + 1, at: minute + 5)
                _ = try await stores[1 - index % 2].hit(key: key, count: 1, id: HitID("u"), callback: nil, at: minute + 7)
            }
            let (holderSink, survivorSink) = try await RollupTests.holderDiesAfterItsFirstPage(stores, now: minute + 63, pageSize: 16, lease: .seconds(2))

            let events = holderSink.events + survivorSink.events
            #expect(holderSink.events.count == 16)
            #expect(events.count == keys.count && Set(events.map(\.key)) == Set(keys), "each counter once")
            for (index, key) in keys.enumerated() {
                let event = events.first { $0.key == key }
                #expect(event?.hits == Int64(index + 2) && event?.unique == 1 && event?.minute == minute, "\(key)")
            }
        }
    }
}

/// What a load loop saw: rounds sent, hits acknowledged per counter, failures by group.
final class LoadTally: Sendable {
    private let state = Mutex<(rounds: Int, acknowledged: [CounterKey: Int64], failures: [String: [String]], lastFailure: [String: ContinuousClock.Instant])>((0, [:], [:], [:]))

    func nextRound() -> Int { self.state.withLock { state in defer { state.rounds += 1 }; return state.rounds } }
    func acknowledge(_ key: CounterKey) { self.state.withLock { $0.acknowledged[key, default: 0] += 1 } }
    func fail(_ group: String, _ error: any Error) {
        self.state.withLock { state in
            state.failures[group, default: []].append("\(error)")
            state.lastFailure[group] = .now
        }
    }
    var rounds: Int { self.state.withLock { $0.rounds } }
    var acknowledged: [CounterKey: Int64] { self.state.withLock { $0.acknowledged } }
    func failures(_ group: String) -> [String] { self.state.withLock { $0.failures[group] ?? [] } }
    func lastFailure(_ group: String) -> ContinuousClock.Instant? { self.state.withLock { $0.lastFailure[group] } }
}

extension Sequence {
    fileprivate func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

/// Whether a future was answered, set from its callback.
private final class AnsweredFlag: Sendable {
    private let answered = Atomic(false)
    var isSet: Bool { self.answered.load(ordering: .acquiring) }
    func set() { self.answered.store(true, ordering: .releasing) }
}
