import NIOCore

/// Reads windows of one counter that end at the same second, in one round trip: `TIME`, then one
/// `GETRANGE` per bucket key the windows' plans name (the units of several windows in one key are
/// fetched together), summed here. See docs/data-model.md.
///
/// Not a transaction (Redis refuses to queue one when it is out of memory, and reads must go on): it
/// needs none. The plans fix which units are read, so a hit counted between `TIME` and a `GETRANGE`
/// lands in a unit of a window only if it belongs there.
struct RedisWindowReader: Sendable {
    let client: RedisClient
    let counterKeys: CounterKeys
    let series: CounterKeys.Series
    let clock: RedisClock
    /// The span of the call, for the child span of its round trip.
    var trace: TraceParent? = nil

    /// The units fetched from one bucket key: its slots `first...last`.
    private struct Fetch {
        let level: BucketLevel
        let sliceStart: Int64
        var first: Int
        var last: Int
    }

    private struct Bucket: Hashable {
        let level: BucketLevel
        let sliceStart: Int64
    }

    /// Reads the windows `windows(second)` plans, at Redis's second, in one round trip while the clock
    /// estimate `now` is within a second of it: the read fetches what the windows of `now - 1`, `now`
    /// and `now + 1` need (mostly the same bucket keys, a unit more at each end) and sums those of the
    /// second Redis's `TIME` says. Otherwise it is planned again from that second (it and the next). A
    /// driven `now`, from a test, is taken as it is. Answers Redis's second and each window's sum.
    func read(
        now: Int64, driven: Bool, windows: @escaping @Sendable (Int64) -> [WindowPlan], on eventLoop: any EventLoop, attempt: Int = 1
    ) -> EventLoopFuture<(now: Int64, hits: [Int64])> {
        let seconds: [Int64] = driven ? [now] : attempt == 1 ? [now - 1, now, now + 1] : [now, now + 1]
        let plansBySecond = seconds.map(windows)
        let (fetches, fetchOfPiece) = Self.fetches(plansBySecond.flatMap { $0 })
        var commands: [RedisCommand] = []
        commands.reserveCapacity(fetches.count)
        for fetch in fetches {
            let width = fetch.level.counterWidth
            commands.append(RedisCommand("GETRANGE", [
                RedisArgument(bytes: self.counterKeys.bucket(self.series, fetch.level, sliceStart: fetch.sliceStart)),
                RedisArgument(fetch.first * width), RedisArgument((fetch.last + 1) * width - 1),
            ]))
        }
        return self.clock.read(
            commands, routedBy: self.counterKeys.base, planned: now, driven: driven, attempt: attempt, client: self.client, on: eventLoop, tracing: self.trace,
            accepts: { seconds.contains($0) },
            replan: { now, attempt in self.read(now: now, driven: driven, windows: windows, on: eventLoop, attempt: attempt) }
        ) { second, replies in
            var fetched: [[UInt8]] = []
            fetched.reserveCapacity(fetches.count)
            for reply in replies {
                if case .error(let message) = reply { return eventLoop.makeFailedFuture(RedisError.replyError(message)) }
                guard case .bulkString(let bytes) = reply else {
                    return eventLoop.makeFailedFuture(RedisError.protocolError("GETRANGE answered \(reply)"))
                }
                fetched.append(bytes)
            }
            // The plans of the second Redis was in, and where their pieces were fetched.
            let index = seconds.firstIndex(of: second) ?? 0
            let plans = plansBySecond[index]
            let first = plansBySecond[..<index].reduce(0) { $0 + $1.count }
            let hits = zip(plans, fetchOfPiece[first..<(first + plans.count)]).map { plan, fetchOf in
                zip(plan.pieces, fetchOf).reduce(Int64(0)) { total, next in
                    let (piece, index) = next
                    let first = piece.level.slot(piece.first)
                    return total + piece.level.sum(fetched[index], first: first - fetches[index].first, count: piece.level.slot(piece.last) - first + 1)
                }
            }
            return eventLoop.makeSucceededFuture((now: driven ? now : second, hits: hits))
        }
    }

    /// One fetch per bucket key the plans name, covering every unit they read from it, and for each
    /// plan's pieces the fetch that holds them.
    private static func fetches(_ plans: [WindowPlan]) -> ([Fetch], [[Int]]) {
        // One window (`GET /hits`, the hot read): its pieces are in different bucket keys already.
        if plans.count == 1 {
            let pieces = plans[0].pieces
            let fetches = pieces.map { Fetch(level: $0.level, sliceStart: $0.sliceStart, first: $0.level.slot($0.first), last: $0.level.slot($0.last)) }
            return (fetches, [Array(pieces.indices)])
        }
        var fetches: [Fetch] = []
        var fetchOf: [Bucket: Int] = [:]
        let indexes = plans.map { plan in
            plan.pieces.map { piece in
                let bucket = Bucket(level: piece.level, sliceStart: piece.sliceStart)
                let first = piece.level.slot(piece.first), last = piece.level.slot(piece.last)
                if let index = fetchOf[bucket] {
                    fetches[index].first = min(fetches[index].first, first)
                    fetches[index].last = max(fetches[index].last, last)
                    return index
                }
                fetchOf[bucket] = fetches.count
                fetches.append(Fetch(level: piece.level, sliceStart: piece.sliceStart, first: first, last: last))
                return fetches.count - 1
            }
        }
        return (fetches, indexes)
    }
}
