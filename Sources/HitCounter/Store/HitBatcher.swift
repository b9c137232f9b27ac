import NIOConcurrencyHelpers
import NIOCore

/// Group commit for hits: while a flight (one script call) is out to Redis, the hits that arrive wait,
/// and the next flight carries all of them, on whatever counters, in one call (`HitScript`). Hits on
/// one counter are folded first: counts without an id summed, ids listed each with its count. Each
/// caller is answered only once its hits are stored, with whether its own id counted.
///
/// One flight at a time per event loop and route: each loop has its own Redis connection
/// (`RedisClient`), so a hit never leaves its loop. The route is the Redis a counter's hits go to:
/// always the same one on one Redis, the primary of the counter's hash slot in a Redis Cluster, so a
/// shard that is slow or stalled holds back its own counters' hits only, and each primary's next
/// flight leaves as soon as it answered the last. Hits with a driven second (tests) go in flights of
/// their own second.
final class HitBatcher: Sendable {
    struct Target: Hashable, Sendable {
        let key: CounterKey
        let second: Int64?
    }

    /// The hits of one counter in a flight.
    struct Batch: Sendable {
        var count = 0
        /// How many calls these hits came in.
        var calls = 0
        /// The spans of the calls that are traced, for the child span of the flight under each.
        var traces: [TraceParent] = []
        var ids: [(id: HitID, count: Int)] = []
        /// Roll-up callbacks named by these hits (usually none, at most a few).
        var callbacks: [String] = []
    }

    /// Whether each id of a counter's batch counted, or why the counter failed.
    typealias Outcome = Result<(second: Int64, counted: [Bool]), any Error>

    private struct Waiting {
        var batch = Batch()
        /// Each caller, with the index of its id in `batch.ids` (nil for a hit without one).
        var callers: [(promise: EventLoopPromise<HitReceipt>, idIndex: Int?)] = []

        mutating func add(count: Int, id: HitID?, callback: String?, trace: TraceParent?, promise: EventLoopPromise<HitReceipt>) {
            var index: Int?
            if let id {
                index = self.batch.ids.count
                self.batch.ids.append((id, count))
            } else {
                self.batch.count += count
            }
            if let callback, !self.batch.callbacks.contains(callback) {
                self.batch.callbacks.append(callback)
            }
            self.batch.calls += 1
            self.callers.append((promise, index))
            if let trace { self.batch.traces.append(trace) }
        }
    }

    /// One route's hits on one event loop: waiting for the next flight, in arrival order of their counters.
    private struct Lane {
        var inFlight = false
        var order: [Target] = []
        var waiting: [Target: Waiting] = [:]

        mutating func add(_ target: Target, count: Int, id: HitID?, callback: String?, trace: TraceParent?, promise: EventLoopPromise<HitReceipt>) {
            if self.waiting[target] == nil { self.order.append(target) }
            self.waiting[target, default: Waiting()].add(count: count, id: id, callback: callback, trace: trace, promise: promise)
        }
    }

    /// Each event loop's lanes, by route.
    private let loops: [(eventLoop: any EventLoop, lanes: NIOLockedValueBox<[Int: Lane]>)]
    /// Lanes of one loop beyond which idle ones are let go (a cluster's primaries, and some that left).
    static let idleLanesKept = 16
    /// The route of a counter's hits: equal for counters whose hits go to the same Redis.
    private let route: @Sendable (Target) -> Int
    /// Sends one flight: the batches of each counter, in order, on `eventLoop`'s connection.
    private let send: @Sendable (_ flight: [(Target, Batch)], _ eventLoop: any EventLoop) -> EventLoopFuture<[Outcome]>

    init(
        eventLoops: [any EventLoop], route: @escaping @Sendable (Target) -> Int,
        send: @escaping @Sendable ([(Target, Batch)], any EventLoop) -> EventLoopFuture<[Outcome]>
    ) {
        self.loops = eventLoops.map { ($0, NIOLockedValueBox([:])) }
        self.route = route
        self.send = send
    }

    /// The receipt of one caller's hits, completed on `eventLoop`.
    func hit(_ target: Target, count: Int, id: HitID?, callback: String?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<HitReceipt> {
        let promise = eventLoop.makePromise(of: HitReceipt.self)
        let route = self.route(target)
        let (loop, lanes) = self.lanes(for: eventLoop)
        let flight = lanes.withLockedValue { lanes in
            lanes[route, default: Lane()].add(target, count: count, id: id, callback: callback, trace: trace, promise: promise)
            return Self.takeFlightIfIdle(&lanes, route)
        }
        if let flight { self.start(flight, on: loop, route: route, lanes: lanes) }
        return promise.futureResult
    }

    /// The receipts of a batch of hits, each in the flight of its route that leaves now, or the next.
    func hit(
        _ hits: [(target: Target, count: Int, id: HitID?, callback: String?)], trace: TraceParent?, on eventLoop: any EventLoop
    ) -> [EventLoopFuture<HitReceipt>] {
        let promises = hits.map { _ in eventLoop.makePromise(of: HitReceipt.self) }
        let routes = hits.map { self.route($0.target) }
        let (loop, lanes) = self.lanes(for: eventLoop)
        let flights = lanes.withLockedValue { lanes -> [(Int, [(Target, Waiting)])] in
            var traced = Set<Int>()
            for (hit, (route, promise)) in zip(hits, zip(routes, promises)) {
                // The caller's span once per route: one Redis span under it for each flight.
                let trace = traced.insert(route).inserted ? trace : nil
                lanes[route, default: Lane()].add(hit.target, count: hit.count, id: hit.id, callback: hit.callback, trace: trace, promise: promise)
            }
            return Set(routes).compactMap { route in Self.takeFlightIfIdle(&lanes, route).map { (route, $0) } }
        }
        for (route, flight) in flights { self.start(flight, on: loop, route: route, lanes: lanes) }
        return promises.map(\.futureResult)
    }

    private func lanes(for eventLoop: any EventLoop) -> (any EventLoop, NIOLockedValueBox<[Int: Lane]>) {
        for entry in self.loops where entry.eventLoop === eventLoop { return (entry.eventLoop, entry.lanes) }
        // Not one of the client's loops: spread by the loop's identity.
        let entry = self.loops[Int(UInt(bitPattern: ObjectIdentifier(eventLoop).hashValue) % UInt(self.loops.count))]
        return (entry.eventLoop, entry.lanes)
    }

    /// Everything waiting in `route`'s lane, for a flight that leaves now, when none is out.
    private static func takeFlightIfIdle(_ lanes: inout [Int: Lane], _ route: Int) -> [(Target, Waiting)]? {
        guard lanes[route]?.inFlight == false else { return nil }
        lanes[route]!.inFlight = true
        return Self.takeFlight(&lanes[route]!)
    }

    /// Everything waiting, for one flight.
    private static func takeFlight(_ lane: inout Lane) -> [(Target, Waiting)] {
        defer {
            lane.order.removeAll(keepingCapacity: true)
            lane.waiting.removeAll(keepingCapacity: true)
        }
        return lane.order.map { ($0, lane.waiting[$0]!) }
    }

    private func start(_ flight: [(Target, Waiting)], on eventLoop: any EventLoop, route: Int, lanes: NIOLockedValueBox<[Int: Lane]>) {
        self.send(flight.map { ($0.0, $0.1.batch) }, eventLoop).whenComplete { result in
            // The next flight leaves before this one's callers are answered, so Redis works on it while
            // this loop writes the answers.
            let next = lanes.withLockedValue { lanes -> [(Target, Waiting)]? in
                guard lanes[route]?.order.isEmpty == false else {
                    lanes[route]?.inFlight = false
                    // Idle lanes stay for their capacity, unless those of primaries that are gone pile up.
                    if lanes.count > Self.idleLanesKept { lanes = lanes.filter { $0.value.inFlight || !$0.value.order.isEmpty } }
                    return nil
                }
                return Self.takeFlight(&lanes[route]!)
            }
            if let next { self.start(next, on: eventLoop, route: route, lanes: lanes) }
            for (index, (_, waiting)) in flight.enumerated() {
                let outcome: Outcome =
                    switch result {
                    case .success(let outcomes): outcomes[index]
                    case .failure(let error): .failure(error)
                    }
                for caller in waiting.callers {
                    caller.promise.completeWith(outcome.map { outcome in
                        HitReceipt(second: outcome.second, counted: caller.idIndex.map { outcome.counted[$0] } ?? true)
                    })
                }
            }
        }
    }
}
