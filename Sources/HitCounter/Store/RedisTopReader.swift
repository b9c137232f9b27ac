import NIOCore

/// The counters with the most hits in a window, exact at any window, reading from each top set only as
/// deep as the ranking needs (see docs/top-keys.md).
///
/// The window's sets (`TopPlan`): the whole hours and minutes it holds, whose scores count in full, and
/// the (at most two) minutes it cuts, whose scores bound a counter's share from above. Then, the
/// threshold algorithm of Fagin, Lotem and Naor:
///
/// 1. Read the `depth` highest scores of every set (`ZREVRANGE`; the first trip also reads `TIME`).
///    Every counter seen is a candidate; the whole sets give each its exact count over the whole units
///    (`ZMSCORE`), the cut minutes an upper bound on the rest.
/// 2. A counter not seen has at most the sum of the lowest score read from each set that has more. If
///    that is below the `limit`-th best candidate's count over the whole units, no unseen counter can
///    rank; else read deeper (the depth times four) and go again. A set read to its end adds nothing.
/// 3. For the candidates hit in a cut minute that can still rank, the window's seconds of that minute
///    are read from their second-level buckets (`GETRANGE`).
///
/// With the usual skew (a few keys take most hits) that is three round trips of small commands,
/// whatever the number of keys; with every key equally hit it reads every set to its end.
struct RedisTopReader: Sendable {
    let client: RedisClient
    let keys: KeySchema
    let clock: RedisClock
    /// The span of the call, for the child span of each round trip.
    var trace: TraceParent? = nil

    /// The first depth read from each set, at least; twice the limit when that is more.
    static let firstDepth = 32

    func top(range: Int, limit: Int, now: Int64, driven: Bool, on eventLoop: any EventLoop, attempt: Int = 1) -> EventLoopFuture<TopKeys> {
        let plan = TopPlan(WindowPlan(now: now, range: range), live: !driven)
        let sets = plan.whole.map { self.keys.topKeys($0.level, unitStart: $0.unitStart) } + plan.edges.map { self.keys.topKeys(.minutes, unitStart: $0.sliceStart) }
        let depth = max(Self.firstDepth, 2 * limit)
        // One Redis only: a cluster keeps no top sets (docs/cluster.md).
        return self.clock.read(
            Self.reads(sets, from: 0, depth: depth), routedBy: nil, planned: now, driven: driven, attempt: attempt, client: self.client, on: eventLoop,
            tracing: self.trace,
            replan: { now, attempt in self.top(range: range, limit: limit, now: now, driven: driven, on: eventLoop, attempt: attempt) }
        ) { replies in
            var search = Search(plan: plan, sets: sets, limit: limit)
            do {
                try search.read(Array(replies), asked: depth)
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
            return self.score(search, depth: depth, on: eventLoop).map { TopKeys(now: now, range: range, entries: $0) }
        }
    }

    /// Scores the new candidates in every set (asking Redis only for what the reads did not show),
    /// then reads deeper or finishes.
    private func score(_ search: Search, depth: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[TopKeys.Entry]> {
        let fresh = search.unscored
        let queries = search.queries(fresh)
        let commands = queries.map { query in
            RedisCommand("ZMSCORE", [RedisArgument(bytes: search.sets[query.set])] + query.keys.map { RedisArgument(bytes: $0.bytes) })
        }
        // Often nothing to ask (every set the candidates are in was read to its end): no round trip then.
        return self.client.send(commands, routedBy: nil, on: eventLoop, tracing: self.trace).flatMap { replies in
            var search = search
            do {
                try search.score(fresh, queries: queries, replies: replies)
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
            guard search.isSettled else {
                let deeper = depth * 4
                return self.client.send(Self.reads(search.sets, from: depth, depth: deeper), routedBy: nil, on: eventLoop, tracing: self.trace).flatMap { replies in
                    var search = search
                    do {
                        try search.read(replies, asked: deeper - depth)
                    } catch {
                        return eventLoop.makeFailedFuture(error)
                    }
                    return self.score(search, depth: deeper, on: eventLoop)
                }
            }
            return self.finish(search, on: eventLoop)
        }
    }

    /// Reads the cut minutes' seconds of the candidates that need them, and ranks.
    private func finish(_ search: Search, on eventLoop: any EventLoop) -> EventLoopFuture<[TopKeys.Entry]> {
        let reads = search.edgeReads
        guard !reads.isEmpty else { return eventLoop.makeSucceededFuture(TopKeys.ranking(search.known, limit: search.limit)) }
        let commands = reads.map { read in
            let piece = search.plan.edges[read.edge]
            let first = BucketLevel.seconds.slot(piece.first), last = BucketLevel.seconds.slot(piece.last)
            let width = BucketLevel.seconds.counterWidth
            return RedisCommand("GETRANGE", [
                RedisArgument(bytes: self.keys.counter(read.key).bucket(.hits, .seconds, sliceStart: piece.sliceStart)),
                RedisArgument(first * width), RedisArgument((last + 1) * width - 1),
            ])
        }
        return self.client.send(commands, routedBy: nil, on: eventLoop, tracing: self.trace).flatMapThrowing { replies in
            var counts = search.known
            for (read, reply) in zip(reads, replies) {
                if case .error(let message) = reply { throw RedisError.replyError(message) }
                guard case .bulkString(let bytes) = reply else { throw RedisError.protocolError("GETRANGE answered \(reply)") }
                counts[read.key, default: search.whole[read.key] ?? 0] += BucketLevel.seconds.sum(bytes)
            }
            return TopKeys.ranking(counts, limit: search.limit)
        }
    }

    /// The next `depth - from` highest scores of every set.
    private static func reads(_ sets: [[UInt8]], from: Int, depth: Int) -> [RedisCommand] {
        sets.map { RedisCommand("ZREVRANGE", [RedisArgument(bytes: $0), RedisArgument(from), RedisArgument(depth - 1), "WITHSCORES"]) }
    }

    /// What the search knows so far.
    private struct Search: Sendable {
        let plan: TopPlan
        /// The whole sets, then the cut minutes' sets.
        let sets: [[UInt8]]
        let limit: Int
        /// The lowest score read from each set, or 0 once it is read to its end.
        var floors: [Int64]
        /// The scores read from each set so far, and whether it is read to its end.
        var scoresRead: [[CounterKey: Int64]]
        var exhausted: [Bool]
        /// Every counter seen, in the order seen, and which of them are scored.
        var candidates: [CounterKey] = []
        var seen: Set<CounterKey> = []
        /// Per scored candidate: its hits in the whole sets, and its scores in each cut minute.
        var whole: [CounterKey: Int64] = [:]
        var edges: [CounterKey: [Int64]] = [:]

        init(plan: TopPlan, sets: [[UInt8]], limit: Int) {
            self.plan = plan
            self.sets = sets
            self.limit = limit
            self.floors = Array(repeating: 0, count: sets.count)
            self.scoresRead = Array(repeating: [:], count: sets.count)
            self.exhausted = Array(repeating: false, count: sets.count)
        }

        var unscored: [CounterKey] { self.candidates.filter { self.whole[$0] == nil } }

        /// Takes the next scores of every set, `asked` of each.
        mutating func read(_ replies: [RESPValue], asked: Int) throws {
            for (index, reply) in replies.enumerated() {
                let scores = try RedisTopReader.scores(reply)
                for (key, score) in scores {
                    self.scoresRead[index][key] = score
                    if self.seen.insert(key).inserted { self.candidates.append(key) }
                }
                // A set that gave fewer than it was asked for is read to its end.
                self.exhausted[index] = scores.count < asked
                self.floors[index] = self.exhausted[index] ? 0 : scores.last!.score
            }
        }

        /// What Redis must still be asked of `fresh`: per set not read to its end, the candidates it did
        /// not show.
        func queries(_ fresh: [CounterKey]) -> [(set: Int, keys: [CounterKey])] {
            self.sets.indices.compactMap { index in
                guard !self.exhausted[index] else { return nil }
                let keys = fresh.filter { self.scoresRead[index][$0] == nil }
                return keys.isEmpty ? nil : (index, keys)
            }
        }

        mutating func score(_ fresh: [CounterKey], queries: [(set: Int, keys: [CounterKey])], replies: [RESPValue]) throws {
            for key in fresh {
                self.whole[key] = 0
                self.edges[key] = Array(repeating: 0, count: self.plan.edges.count)
                for index in self.sets.indices {
                    if let score = self.scoresRead[index][key] { self.add(score, of: key, in: index) }
                }
            }
            for (query, reply) in zip(queries, replies) {
                guard case .array(let values) = reply, values.count == query.keys.count else {
                    if case .error(let message) = reply { throw RedisError.replyError(message) }
                    throw RedisError.protocolError("ZMSCORE answered \(reply)")
                }
                for (key, value) in zip(query.keys, values) {
                    if let score = try RedisTopReader.score(value) { self.add(score, of: key, in: query.set) }
                }
            }
        }

        private mutating func add(_ score: Int64, of key: CounterKey, in set: Int) {
            if set < self.plan.whole.count {
                self.whole[key]! += score
            } else {
                self.edges[key]![set - self.plan.whole.count] = score
            }
        }

        /// The `limit`-th best count over the whole units among the candidates (0 with fewer).
        var threshold: Int64 {
            guard self.whole.count >= self.limit else { return 0 }
            return self.whole.values.sorted(by: >)[self.limit - 1]
        }

        /// No counter not yet seen can rank: the most it can have is below the threshold, or every set
        /// is read to its end.
        var isSettled: Bool {
            let unseen = self.floors.reduce(0, +)
            return unseen == 0 || unseen < self.threshold
        }

        /// The counters whose count is known: those not hit in a cut minute.
        var known: [CounterKey: Int64] {
            self.whole.filter { self.edges[$0.key]!.allSatisfy { $0 == 0 } }
        }

        /// The candidates hit in a cut minute that can still rank, with each such minute.
        var edgeReads: [(key: CounterKey, edge: Int)] {
            let threshold = self.threshold
            var reads: [(key: CounterKey, edge: Int)] = []
            for key in self.candidates {
                let edges = self.edges[key]!
                guard self.whole[key]! + edges.reduce(0, +) >= threshold else { continue }
                for (edge, score) in edges.enumerated() where score > 0 { reads.append((key, edge)) }
            }
            return reads
        }
    }

    /// A `WITHSCORES` reply, in its order (scores are whole numbers of hits).
    static func scores(_ reply: RESPValue) throws -> [(key: CounterKey, score: Int64)] {
        if case .error(let message) = reply { throw RedisError.replyError(message) }
        guard case .array(let values) = reply, values.count % 2 == 0 else { throw RedisError.protocolError("a top set answered \(reply)") }
        var scores: [(key: CounterKey, score: Int64)] = []
        scores.reserveCapacity(values.count / 2)
        var index = 0
        while index < values.count {
            guard case .bulkString(let member) = values[index], let score = try Self.score(values[index + 1]) else {
                throw RedisError.protocolError("a top set answered \(reply)")
            }
            scores.append((CounterKey(bytes: member), score))
            index += 2
        }
        return scores
    }

    /// A score, or nil for a member the set does not have.
    static func score(_ value: RESPValue) throws -> Int64? {
        if case .null = value { return nil }
        guard let text = value.string, let score = Double(text) else { throw RedisError.protocolError("a score answered \(value)") }
        return Int64(score)
    }
}
