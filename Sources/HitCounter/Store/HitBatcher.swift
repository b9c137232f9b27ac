import NIOConcurrencyHelpers
import NIOCore

/// Group commit for hits: while a flight (one script call) is out to Redis, the hits that arrive wait,
/// and the next flight carries all of them, on whatever counters, in one call (`HitScript`). Hits on
/// one counter are folded first: counts without an id summed, ids listed each with its count. Each
/// caller is answered only once its hits are stored, with whether its own id counted.
///
/// One flight at a time per event loop: each loop has its own Redis connection (`RedisClient`), so
/// a hit never leaves its loop. Hits with a driven second (tests) go in flights of their own second.
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

    /// One event loop's hits: waiting for the next flight, in arrival order of their counters.
    private struct Lane {
        var inFlight = false
        var order: [Target] = []
        var waiting: [Target: Waiting] = [:]

        mutating func add(_ target: Target, count: Int, id: HitID?, callback: String?, trace: TraceParent?, promise: EventLoopPromise<HitReceipt>) {
            if self.waiting[target] == nil { self.order.append(target) }
            self.waiting[target, default: Waiting()].add(count: count, id: id, callback: callback, trace: trace, promise: promise)
        }
    }

    private let lanes: [(eventLoop: any EventLoop, lane: NIOLockedValueBox<Lane>)]
    /// Sends one flight: the batches of each counter, in order, on `eventLoop`'s connection.
    private let send: @Sendable (_ flight: [(Target, Batch)], _ eventLoop: any EventLoop) -> EventLoopFuture<[Outcome]>

    init(eventLoops: [any EventLoop], send: @escaping @Sendable ([(Target, Batch)], any EventLoop) -> EventLoopFuture<[Outcome]>) {
        self.lanes = eventLoops.map { ($0, NIOLockedValueBox(Lane())) }
        self.send = send
    }

    /// The receipt of one caller's hits, completed on `eventLoop`.
    func hit(_ target: Target, count: Int, id: HitID?, callback: String?, trace: TraceParent?, on eventLoop: any EventLoop) -> EventLoopFuture<HitReceipt> {
        let promise = eventLoop.makePromise(of: HitReceipt.self)
        self.enqueue(on: eventLoop) { $0.add(target, count: count, id: id, callback: callback, trace: trace, promise: promise) }
        return promise.futureResult
    }

    /// The receipts of a batch of hits, all in the same flight: the one that leaves now, or the next.
    func hit(
        _ hits: [(target: Target, count: Int, id: HitID?, callback: String?)], trace: TraceParent?, on eventLoop: any EventLoop
    ) -> [EventLoopFuture<HitReceipt>] {
        let promises = hits.map { _ in eventLoop.makePromise(of: HitReceipt.self) }
        self.enqueue(on: eventLoop) { lane in
            for (index, (hit, promise)) in zip(hits, promises).enumerated() {
                // The caller's span once: one Redis span under it for the flight.
                lane.add(hit.target, count: hit.count, id: hit.id, callback: hit.callback, trace: index == 0 ? trace : nil, promise: promise)
            }
        }
        return promises.map(\.futureResult)
    }

    /// Adds hits to `eventLoop`'s lane, and sends them at once when no flight is out.
    private func enqueue(on eventLoop: any EventLoop, _ add: (inout Lane) -> Void) {
        let (loop, lane) = self.lane(for: eventLoop)
        let flight = lane.withLockedValue { lane -> [(Target, Waiting)]? in
            add(&lane)
            guard !lane.inFlight else { return nil }
            lane.inFlight = true
            return Self.takeFlight(&lane)
        }
        if let flight { self.start(flight, on: loop, lane: lane) }
    }

    private func lane(for eventLoop: any EventLoop) -> (any EventLoop, NIOLockedValueBox<Lane>) {
        for entry in self.lanes where entry.eventLoop === eventLoop { return (entry.eventLoop, entry.lane) }
        // Not one of the client's loops: spread by the loop's identity.
        let entry = self.lanes[Int(UInt(bitPattern: ObjectIdentifier(eventLoop).hashValue) % UInt(self.lanes.count))]
        return (entry.eventLoop, entry.lane)
    }

    /// Everything waiting, for one flight.
    private static func takeFlight(_ lane: inout Lane) -> [(Target, Waiting)] {
        defer {
            lane.order.removeAll(keepingCapacity: true)
            lane.waiting.removeAll(keepingCapacity: true)
        }
        return lane.order.map { ($0, lane.waiting[$0]!) }
    }

    private func start(_ flight: [(Target, Waiting)], on eventLoop: any EventLoop, lane: NIOLockedValueBox<Lane>) {
        self.send(flight.map { ($0.0, $0.1.batch) }, eventLoop).whenComplete { result in
            // The next flight leaves before this one's callers are answered, so Redis works on it while
            // this loop writes the answers.
            let next = lane.withLockedValue { lane -> [(Target, Waiting)]? in
                guard !lane.order.isEmpty else {
                    lane.inFlight = false
                    return nil
                }
                return Self.takeFlight(&lane)
            }
            if let next { self.start(next, on: eventLoop, lane: lane) }
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
