import NIOConcurrencyHelpers
import NIOCore

/// Folds concurrent hits on one counter into one script call.
///
/// While a call for a counter (and explicit second) is in flight, further hits on it wait and are
/// gathered: counts without an id are summed, ids are listed each with its count. When the call
/// returns, one call carries them all. A hot key then costs Redis one script run per round trip
/// instead of one per hit, and each caller is still answered only once its hits are stored, with
/// whether its own id counted.
final class HitCoalescer: Sendable {
    struct Target: Hashable, Sendable {
        let key: CounterKey
        let second: Int64?
    }

    /// The hits one script call carries.
    struct Batch: Sendable {
        var count = 0
        var ids: [(id: HitID, count: Int)] = []
        /// Roll-up callbacks named by these hits (usually none, at most a few).
        var callbacks: [String] = []
    }

    /// The second counted at, and whether each id of the batch counted.
    struct Outcome: Sendable {
        let second: Int64
        let counted: [Bool]
    }

    private struct Waiting {
        var batch = Batch()
        /// Each caller, with the index of its id in `batch.ids` (nil for a hit without one).
        var callers: [(promise: EventLoopPromise<HitReceipt>, idIndex: Int?)] = []

        mutating func add(count: Int, id: HitID?, callback: String?, promise: EventLoopPromise<HitReceipt>) {
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
            self.callers.append((promise, index))
        }
    }

    /// Counters with a call in flight, and the hits waiting for the next one.
    private let inFlight = NIOLockedValueBox<[Target: Waiting]>([:])
    private let send: @Sendable (Target, Batch) -> EventLoopFuture<Outcome>

    init(send: @escaping @Sendable (Target, Batch) -> EventLoopFuture<Outcome>) {
        self.send = send
    }

    /// The receipt of one caller's hits, completed on `eventLoop`.
    func hit(_ target: Target, count: Int, id: HitID?, callback: String?, on eventLoop: any EventLoop) -> EventLoopFuture<HitReceipt> {
        let promise = eventLoop.makePromise(of: HitReceipt.self)
        let first = self.inFlight.withLockedValue { inFlight -> Waiting? in
            if inFlight[target] != nil {
                inFlight[target]!.add(count: count, id: id, callback: callback, promise: promise)
                return nil
            }
            inFlight[target] = Waiting()
            var first = Waiting()
            first.add(count: count, id: id, callback: callback, promise: promise)
            return first
        }
        if let first {
            self.start(target, first)
        }
        return promise.futureResult
    }

    private func start(_ target: Target, _ waiting: Waiting) {
        self.send(target, waiting.batch).whenComplete { result in
            for caller in waiting.callers {
                caller.promise.completeWith(result.map { outcome in
                    HitReceipt(second: outcome.second, counted: caller.idIndex.map { outcome.counted[$0] } ?? true)
                })
            }
            let next = self.inFlight.withLockedValue { inFlight -> Waiting? in
                guard let waiting = inFlight[target], !waiting.callers.isEmpty else {
                    inFlight[target] = nil
                    return nil
                }
                inFlight[target] = Waiting()
                return waiting
            }
            if let next {
                self.start(target, next)
            }
        }
    }
}
