import NIOCore

/// The counters with the most hits in a window, exact at any window, reading from each top set only as
/// deep as the ranking needs (see docs/top-keys.md).
///
/// The window's sets (`TopPlan`): the sets of the units it holds whole, whose scores count in full, and
/// of the units it cuts (edges), whose scores bound a counter's share from above. Then, the threshold
/// algorithm of Fagin, Lotem and Naor, with an edge's exact share as its random access:
///
/// 1. Read the `depth` highest scores of every set (`ZREVRANGE`; the first trip also reads `TIME`).
///    Every counter seen is a candidate, scored in every set it was not seen in (`ZMSCORE`).
/// 2. A candidate's count lies between its whole sets' sum (plus the edges read exactly) and that plus
///    its edge scores. The candidates whose most can still reach the `limit`-th best least have their
///    edges read exactly from their buckets (`GETRANGE` of the window's pieces in each), until none is
///    left: then every candidate that can rank has its exact count.
/// 3. A counter not seen has at most the sum of the lowest score read from each set that has more. If
///    that is below the `limit`-th best count, no unseen counter can rank (not even by a tie, which key
///    order could win); else read deeper (the depth times four) and go again. A set read to its end
///    adds nothing.
///
/// With the usual skew (a few keys take most hits) that is three or four round trips of small
/// commands, whatever the number of keys; with every key equally hit it reads every set to its end.
struct RedisTopReader: Sendable {
    let client: RedisClient
    let keys: KeySchema
    let clock: RedisClock
    /// The fold's watermark: edges read the minutes from it on from their seconds (docs/fold.md).
    let foldedBefore: Int64
    /// The span of the call, for the child span of each round trip.
    var trace: TraceParent? = nil

    /// The first depth read from each set, at least; twice the limit when that is more.
    static let firstDepth = 32

    func top(range: Int, limit: Int, now: Int64, driven: Bool, on eventLoop: any EventLoop, attempt: Int = 1) -> EventLoopFuture<TopKeys> {
        let plan = TopPlan(WindowPlan(now: now, range: range, foldedBefore: self.foldedBefore), live: !driven)
        let sets = plan.sets.map { self.keys.topKeys($0.level, unitStart: $0.unitStart) }
        let depth = max(Self.firstDepth, 2 * limit)
        // One Redis only: a cluster keeps no top sets (docs/cluster.md).
        return self.clock.read(
            Self.reads(sets, from: 0, depth: depth), routedBy: nil, planned: now, driven: driven, attempt: attempt, client: self.client, on: eventLoop,
            tracing: self.trace,
            // Redis in another second whose plan reads the same sets (within a minute, nearly always):
            // the first trip read what a plan for that second reads.
            accepts: { second in TopPlan(WindowPlan(now: second, range: range, foldedBefore: self.foldedBefore), live: !driven).sets == plan.sets },
            replan: { now, attempt in self.top(range: range, limit: limit, now: now, driven: driven, on: eventLoop, attempt: attempt) }
        ) { now, replies in
            let plan = TopPlan(WindowPlan(now: now, range: range, foldedBefore: self.foldedBefore), live: !driven)
            var search = Search(plan: plan, sets: sets, limit: limit)
            do {
                try search.read(Array(replies), asked: depth)
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
            return self.score(search, depth: depth, on: eventLoop).map { TopKeys(now: now, range: range, entries: $0) }
        }
    }

    /// Scores the new candidates in every set (asking Redis only for what the reads did not show), reads
    /// the edges of those that can rank, then reads deeper or ranks.
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
            return self.resolve(search, on: eventLoop).flatMap { search in
                guard search.isSettled else {
                    let asked = depth * 3
                    let reads = search.deeperReads(asked: asked)
                    let commands = reads.map { read in self.deeperRead(search.sets[read.set], from: search.readCounts[read.set], asked: asked, least: read.least) }
                    return self.client.send(commands, routedBy: nil, on: eventLoop, tracing: self.trace).flatMap { replies in
                        var search = search
                        do {
                            try search.readDeeper(reads, replies: replies, asked: asked)
                        } catch {
                            return eventLoop.makeFailedFuture(error)
                        }
                        return self.score(search, depth: depth * 4, on: eventLoop)
                    }
                }
                return eventLoop.makeSucceededFuture(TopKeys.ranking(search.exact, limit: search.limit))
            }
        }
    }

    /// Reads exactly, from their buckets, the edges of the candidates that can still rank.
    private func resolve(_ search: Search, on eventLoop: any EventLoop) -> EventLoopFuture<Search> {
        let reads = search.edgeReads
        guard !reads.isEmpty else { return eventLoop.makeSucceededFuture(search) }
        let commands = reads.flatMap { read in
            search.plan.edges[read.edge].pieces.map { piece in
                let width = piece.level.counterWidth
                return RedisCommand("GETRANGE", [
                    RedisArgument(bytes: self.keys.counter(read.key).bucket(.hits, piece.level, sliceStart: piece.sliceStart)),
                    RedisArgument(piece.level.slot(piece.first) * width), RedisArgument((piece.level.slot(piece.last) + 1) * width - 1),
                ])
            }
        }
        return self.client.send(commands, routedBy: nil, on: eventLoop, tracing: self.trace).flatMap { replies in
            var search = search
            var next = replies[...]
            do {
                for read in reads {
                    var share: Int64 = 0
                    for piece in search.plan.edges[read.edge].pieces {
                        let reply = next.removeFirst()
                        if case .error(let message) = reply { throw RedisError.replyError(message) }
                        guard case .bulkString(let bytes) = reply else { throw RedisError.protocolError("GETRANGE answered \(reply)") }
                        share += piece.level.sum(bytes)
                    }
                    search.resolve(read.key, edge: read.edge, share: share)
                }
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
            return eventLoop.makeSucceededFuture(search)
        }
    }

    /// The `depth` highest scores of every set.
    private static func reads(_ sets: [[UInt8]], from: Int, depth: Int) -> [RedisCommand] {
        sets.map { RedisCommand("ZREVRANGE", [RedisArgument(bytes: $0), RedisArgument(from), RedisArgument(depth - 1), "WITHSCORES"]) }
    }

    /// The next `asked` highest scores of `set` after the `from` read, only those of `least` or more:
    /// a member with less cannot rank, so a flood of one-hit counters is not read past.
    private func deeperRead(_ set: [UInt8], from: Int, asked: Int, least: Int64) -> RedisCommand {
        guard least > 1 else { return Self.reads([set], from: from, depth: from + asked)[0] }
        return RedisCommand("ZREVRANGEBYSCORE", [
            RedisArgument(bytes: set), "+inf", RedisArgument(least), "WITHSCORES", "LIMIT", RedisArgument(from), RedisArgument(asked),
        ])
    }

    /// What the search knows so far.
    private struct Search: Sendable {
        let plan: TopPlan
        /// The whole sets, then the edges' sets.
        let sets: [[UInt8]]
        let limit: Int
        /// The most an unseen member of each set can have there: the lowest score read, less once
        /// every member that could rank is read, 0 once the set is read to its end.
        var floors: [Int64]
        /// The scores read from each set so far, how many, and whether it is read to its end.
        var scoresRead: [[CounterKey: Int64]]
        var readCounts: [Int]
        var exhausted: [Bool]
        /// Every counter seen, in the order seen, and which of them are scored.
        var candidates: [CounterKey] = []
        var seen: Set<CounterKey> = []
        /// Per scored candidate: its hits in the whole sets, and per edge its score (a bound) or, once
        /// read from its buckets, its exact share.
        var whole: [CounterKey: Int64] = [:]
        var edges: [CounterKey: [EdgeCount]] = [:]

        enum EdgeCount: Sendable {
            case bound(Int64)
            case exact(Int64)

            var least: Int64 {
                if case .exact(let share) = self { share } else { 0 }
            }

            var most: Int64 {
                switch self {
                case .bound(let score): score
                case .exact(let share): share
                }
            }

            var isOpen: Bool {
                if case .bound(let score) = self { score > 0 } else { false }
            }
        }

        init(plan: TopPlan, sets: [[UInt8]], limit: Int) {
            self.plan = plan
            self.sets = sets
            self.limit = limit
            self.floors = Array(repeating: 0, count: sets.count)
            self.scoresRead = Array(repeating: [:], count: sets.count)
            self.readCounts = Array(repeating: 0, count: sets.count)
            self.exhausted = Array(repeating: false, count: sets.count)
        }

        var unscored: [CounterKey] { self.candidates.filter { self.whole[$0] == nil } }

        /// Takes the first scores of every set, `asked` of each.
        mutating func read(_ replies: [RESPValue], asked: Int) throws {
            for (index, reply) in replies.enumerated() {
                try self.take(reply, of: index, asked: asked, least: 1)
            }
        }

        /// The sets to read deeper, and the least score in each that can still rank: a member needs
        /// the threshold less what the other sets' unseen members may add.
        func deeperReads(asked: Int) -> [(set: Int, least: Int64)] {
            let threshold = self.threshold
            let unseen = self.floors.reduce(0, +)
            return self.sets.indices.filter { !self.exhausted[$0] }.map { ($0, max(1, threshold - (unseen - self.floors[$0]))) }
        }

        mutating func readDeeper(_ reads: [(set: Int, least: Int64)], replies: [RESPValue], asked: Int) throws {
            for (read, reply) in zip(reads, replies) {
                try self.take(reply, of: read.set, asked: asked, least: read.least)
            }
        }

        /// Takes a read of set `index`: `asked` scores of `least` or more after those read before.
        private mutating func take(_ reply: RESPValue, of index: Int, asked: Int, least: Int64) throws {
            let scores = try RedisTopReader.scores(reply)
            for (key, score) in scores {
                self.scoresRead[index][key] = score
                if self.seen.insert(key).inserted { self.candidates.append(key) }
            }
            self.readCounts[index] += scores.count
            if scores.count == asked {
                self.floors[index] = scores.last!.score
            } else if least <= 1 {
                // Fewer than asked, of any score: read to its end.
                self.exhausted[index] = true
                self.floors[index] = 0
            } else {
                // Every member of `least` or more is read: an unseen one has less.
                self.floors[index] = least - 1
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
                self.edges[key] = Array(repeating: .bound(0), count: self.plan.edges.count)
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
                self.edges[key]![set - self.plan.whole.count] = .bound(score)
            }
        }

        mutating func resolve(_ key: CounterKey, edge: Int, share: Int64) {
            self.edges[key]![edge] = .exact(share)
        }

        /// The fewest and the most hits `key` can have in the window, from what is known.
        private func bounds(_ key: CounterKey) -> (least: Int64, most: Int64) {
            let edges = self.edges[key]!
            let whole = self.whole[key]!
            return (whole + edges.reduce(0) { $0 + $1.least }, whole + edges.reduce(0) { $0 + $1.most })
        }

        /// The `limit`-th best least count among the candidates (0 with fewer): a counter with less
        /// cannot rank.
        var threshold: Int64 {
            guard self.whole.count >= self.limit else { return 0 }
            return self.whole.keys.map { self.bounds($0).least }.sorted(by: >)[self.limit - 1]
        }

        /// No counter not yet seen can rank: the most it can have is below the threshold, or every set
        /// is read to its end.
        var isSettled: Bool {
            let unseen = self.floors.reduce(0, +)
            return unseen == 0 || unseen < self.threshold
        }

        /// The candidates whose count is known: those with no edge left to read.
        var exact: [CounterKey: Int64] {
            var counts: [CounterKey: Int64] = [:]
            for key in self.whole.keys where !self.edges[key]!.contains(where: \.isOpen) { counts[key] = self.bounds(key).least }
            return counts
        }

        /// The edges to read of the candidates that can still rank: all at once, so one round trip
        /// leaves none (the threshold only rises as edges are read). Read the most promising first in
        /// smaller trips instead cost more (measured: `bench/top`, `limit=100`, p50 6.9 ms against 8.2).
        var edgeReads: [(key: CounterKey, edge: Int)] {
            let threshold = self.threshold
            let open = self.candidates.filter { self.whole[$0] != nil && self.edges[$0]!.contains(where: \.isOpen) && self.bounds($0).most >= threshold }
            return open.flatMap { key in
                self.edges[key]!.enumerated().filter(\.element.isOpen).map { (key: key, edge: $0.offset) }
            }
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
