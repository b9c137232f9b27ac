import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Talks to a Redis Cluster (docs/cluster.md): a `RedisNode` per node, and each command sent to the
/// primary of its keys' hash slot, from a map read with `CLUSTER SLOTS`.
///
/// - `MOVED`: the command did not run; it follows the redirect, the slot is patched in the map at
///   once, and one refresh of the whole map is asked for.
/// - `ASK`: the slot is moving; the command goes once to the node named, after `ASKING`, and the map
///   stays as it is.
/// - `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`: the command did not run; it is tried again
///   after a wait that doubles, a few times, and then its error reply is the answer (a 503).
/// - A node that cannot be reached: the command was never written, so once a refresh names another
///   primary for its slot it is sent there, once. A connection that drops after the write leaves the
///   outcome unknown: that is never sent again (the caller answers 503; a retry with an `id` is
///   exactly-once).
/// - Refreshes are coalesced (one at a time, callers share it) and rate-limited, with a periodic one
///   with jitter besides, so a burst of `MOVED` replies makes one refresh, not one per reply.
final class ClusterClient: Sendable {
    /// Redirects followed for one command, at most.
    static let maxRedirects = 5
    /// Sends of a command that a node refused for now (`TRYAGAIN` and the like), at most; the wait
    /// between them doubles from `firstBusyWait` (20 ms, then 40, 80, 160, 320: 620 ms in all).
    static let maxBusyTries = 6
    static let firstBusyWait = TimeAmount.milliseconds(20)
    /// Two refreshes of the map are at least this far apart.
    static let minRefreshInterval = TimeAmount.milliseconds(200)
    /// A refresh happens at least this often, give or take a fifth.
    static let refreshPeriod = TimeAmount.seconds(10)

    /// A node's client and its metrics (made once: a metric with a label costs a lookup to make).
    private struct Member {
        let node: RedisNode
        let roundTrips: Counter
        let errors: Counter
    }

    private struct State {
        /// The primary of each slot: from the last refresh, patched by `MOVED`.
        var owners = [ClusterNode?](repeating: nil, count: HashSlot.count)
        var topology: ClusterTopology?
        var nodes: [ClusterNode: Member] = [:]
        var refreshing: EventLoopFuture<ClusterTopology>?
        var lastRefresh = NIODeadline.uptimeNanoseconds(0)
        var periodic: Scheduled<Void>?
        var shutDown = false
    }

    /// Whether the log said yet that the cluster requires full coverage: once per process, whatever
    /// number of clients (the store's, the roll-ups') read the map.
    private static let warnedOfFullCoverage = Atomic(false)

    /// The settings of every node (its address aside).
    private let configuration: RedisConfiguration
    /// Where to read the map when no node of it answers: the nodes the configuration names.
    private let seeds: [ClusterNode]
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.seeds = ([configuration.address] + configuration.seeds).compactMap { address in
            guard case .tcp(let host, let port) = address else { return nil }
            return ClusterNode(host: host, port: port)
        }
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    // MARK: The map

    /// The primaries' clients, one per primary of the last map, in the order of the slots they serve.
    var primaries: [RedisNode] {
        self.state.withLockedValue { state in
            let shards = (state.topology?.shards ?? []).sorted { ($0.slots.map(\.lowerBound).min() ?? 0) < ($1.slots.map(\.lowerBound).min() ?? 0) }
            return shards.map { self.node($0.primary, in: &state).node }
        }
    }

    /// Reads the map again: at once when none is being read and the last read is long enough ago;
    /// else the caller shares the read under way, or the next one.
    @discardableResult
    func refresh(on eventLoop: any EventLoop) -> EventLoopFuture<ClusterTopology> {
        enum Next {
            case wait(EventLoopFuture<ClusterTopology>)
            case start(EventLoopPromise<ClusterTopology>, after: TimeAmount)
            case fail
        }
        let next = self.state.withLockedValue { state -> Next in
            guard !state.shutDown else { return .fail }
            if let refreshing = state.refreshing { return .wait(refreshing) }
            let promise = eventLoop.makePromise(of: ClusterTopology.self)
            state.refreshing = promise.futureResult
            let earliest = state.lastRefresh + Self.minRefreshInterval
            return .start(promise, after: max(.zero, earliest - .now()))
        }
        switch next {
        case .wait(let future):
            return future
        case .fail:
            return eventLoop.makeFailedFuture(RedisError.shutdown)
        case .start(let promise, let delay):
            eventLoop.scheduleTask(in: delay) {
                self.readTopology(from: self.candidates(), on: eventLoop).whenComplete { result in
                    self.finishRefresh(result)
                    promise.completeWith(result)
                }
            }.futureResult.whenFailure { error in
                // The loop is shutting down: the read never starts.
                self.finishRefresh(.failure(error))
                promise.fail(error)
            }
            return promise.futureResult
        }
    }

    /// Asks for a refresh and does not wait for it.
    func requestRefresh() {
        self.refresh(on: self.eventLoopGroup.any()).whenFailure { _ in }
    }

    /// The nodes to ask for the map: the last map's primaries, then its replicas, then the seeds.
    private func candidates() -> [ClusterNode] {
        let known = self.state.withLockedValue { state in
            (state.topology?.shards ?? []).map(\.primary) + (state.topology?.shards ?? []).flatMap(\.replicas)
        }
        var seen = Set<ClusterNode>()
        return (known + self.seeds).filter { seen.insert($0).inserted }
    }

    /// `CLUSTER SLOTS` from the first of `nodes` that answers one.
    private func readTopology(from nodes: [ClusterNode], on eventLoop: any EventLoop, failures: [String] = []) -> EventLoopFuture<ClusterTopology> {
        guard let address = nodes.first else {
            return eventLoop.makeFailedFuture(RedisError.connectionFailed("no node of the cluster answered CLUSTER SLOTS: \(failures.joined(separator: "; "))"))
        }
        let node = self.state.withLockedValue { self.node(address, in: &$0).node }
        let commands = [RedisCommand("CLUSTER", ["SLOTS"]), RedisCommand("CONFIG", ["GET", "cluster-require-full-coverage"])]
        return node.send(commands, on: eventLoop).flatMapThrowing { replies in
            let topology = try ClusterTopology(slotsReply: replies[0], answering: address)
            // A node that restarted and has not joined again knows no slots: ask the next one.
            guard !topology.shards.isEmpty else { throw RedisError.protocolError("CLUSTER SLOTS of \(address) names no slots") }
            self.warnIfFullCoverageIsRequired(replies[1], by: address)
            return topology
        }.flatMapError { error in
            self.readTopology(from: Array(nodes.dropFirst()), on: eventLoop, failures: failures + ["\(address): \(error)"])
        }
    }

    /// Redis's default, `cluster-require-full-coverage yes`, makes every shard refuse commands while one
    /// slot has no primary, so the other shards do not go on serving when one primary dies
    /// (docs/cluster.md): said once, as a warning. A node that refuses `CONFIG` (a managed Redis may)
    /// says nothing.
    private func warnIfFullCoverageIsRequired(_ reply: RESPValue, by address: ClusterNode) {
        guard case .array(let values) = reply, values.count == 2, values[1].string == "yes" else { return }
        guard !Self.warnedOfFullCoverage.exchange(true, ordering: .relaxed) else { return }
        self.logger.warning(
            "the Redis Cluster requires full coverage: while any slot has no primary, every shard refuses commands; set cluster-require-full-coverage no so the other shards keep serving",
            metadata: ["redis.node": "\(address)"]
        )
    }

    private func finishRefresh(_ result: Result<ClusterTopology, any Error>) {
        let (closed, changed) = self.state.withLockedValue { state -> ([Member], Bool) in
            state.refreshing = nil
            state.lastRefresh = .now()
            guard !state.shutDown else { return ([], false) }
            // A failed refresh too: the periodic one must go on.
            if state.periodic == nil { self.schedulePeriodicRefresh(&state) }
            guard case .success(let topology) = result else { return ([], false) }
            // Worth a line in the log: the primaries or the coverage changed (not a slot moving).
            let changed = state.topology.map { Set($0.shards.map(\.primary)) != Set(topology.shards.map(\.primary)) || $0.coversEverySlot != topology.coversEverySlot } ?? true
            state.topology = topology
            for slot in 0..<HashSlot.count { state.owners[slot] = topology.primary(forSlot: slot) }
            // Nodes that left the cluster (a failed primary is not listed once its replica took over).
            let listed = Set(topology.shards.flatMap { [$0.primary] + $0.replicas } + self.seeds)
            let gone = state.nodes.filter { !listed.contains($0.key) }
            for address in gone.keys { state.nodes[address] = nil }
            return (Array(gone.values), changed)
        }
        for member in closed { member.node.shutdown() }
        switch result {
        case .success(let topology):
            ClusterMetrics.refreshes("success").increment()
            if changed {
                self.logger.info("read the cluster's slots", metadata: [
                    "redis.primaries": "\(topology.shards.map(\.primary.description).joined(separator: ","))",
                    "redis.covers_every_slot": "\(topology.coversEverySlot)",
                ])
            }
        case .failure(let error):
            ClusterMetrics.refreshes("failure").increment()
            self.logger.warning("cannot read the cluster's slots", metadata: ["redis.error": "\(error)"])
        }
    }

    private func schedulePeriodicRefresh(_ state: inout State) {
        let period = Self.refreshPeriod.nanoseconds
        let jitter = Int64.random(in: -period / 5...period / 5)
        state.periodic = self.eventLoopGroup.any().scheduleTask(in: .nanoseconds(period + jitter)) {
            self.state.withLockedValue { $0.periodic = nil }
            self.requestRefresh()
        }
    }

    /// The client of `address`, made the first time.
    private func node(_ address: ClusterNode, in state: inout State) -> Member {
        if let member = state.nodes[address] { return member }
        let node = RedisNode(
            configuration: self.configuration.at(.tcp(host: address.host, port: address.port)), eventLoopGroup: self.eventLoopGroup, logger: self.logger
        )
        let member = Member(node: node, roundTrips: ClusterMetrics.nodeRoundTrips(address), errors: ClusterMetrics.nodeErrors(address))
        // After shutdown, a node for a late caller fails its commands at once, and is kept nowhere.
        guard !state.shutDown else {
            node.shutdown()
            return member
        }
        state.nodes[address] = member
        return member
    }

    /// Equal for the slots that one primary serves, by the map as it stands.
    func route(ofSlot slot: Int) -> Int {
        self.state.withLockedValue { $0.owners[slot]?.hashValue ?? 0 }
    }

    private func patch(_ redirect: ClusterRedirect) {
        self.state.withLockedValue { $0.owners[redirect.slot] = redirect.node }
    }

    // MARK: Commands

    /// Where a send stands: redirects followed, refused tries, and the node an `ASK` named.
    private struct Attempt {
        var redirects = 0
        var busyTries = 1
        var unreachableRetried = false
        var ask: ClusterNode?
        /// A read: after an `ASK`, the replies the first node gave stand, and only the commands it
        /// redirected take the second node's.
        var keepsAnswered = false
    }

    /// What a reply means for routing.
    private enum Verdict {
        case reply
        case moved(ClusterRedirect)
        case ask(ClusterRedirect)
        /// Refused for now: try again later.
        case busy
    }

    private static func verdict(_ reply: RESPValue) -> Verdict {
        guard case .error(let message) = reply else { return .reply }
        if let redirect = ClusterRedirect(message) { return redirect.kind == .moved ? .moved(redirect) : .ask(redirect) }
        let code = message.prefix { $0 != " " }
        return ["TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN"].contains(code) ? .busy : .reply
    }

    /// Whether a command answered `reply` without running: a redirect, or a node busy for now.
    static func isRouting(_ reply: RESPValue) -> Bool {
        if case .reply = Self.verdict(reply) { return false }
        return true
    }

    /// Runs a script whose keys are all in `slot`, with `after` in the same write (`WAIT`); answers the
    /// replies of both, error replies as values.
    func evaluate(
        _ script: RedisScript, keys: [[UInt8]], arguments: [RedisArgument], slot: Int, after: [RedisCommand], on eventLoop: any EventLoop
    ) -> EventLoopFuture<[RESPValue]> {
        self.routed(slot: slot, on: eventLoop, attempt: Attempt()) { node, asking in
            node.evaluate(script, keys: keys, arguments: arguments, before: asking ? [RedisCommand("ASKING")] : [], after: after, on: eventLoop)
        }
    }

    /// Runs several calls of `script` in one write to the primary the map names for all of their slots,
    /// with `after` once at the end; answers each call's reply, then `after`'s, error replies as values
    /// (a call redirected or refused for now did not run: the caller sends it again on its own). Nil,
    /// sending nothing, when the map names no single primary for them all, or the write could not be
    /// made (then nothing ran).
    func evaluate(
        _ script: RedisScript, calls: [(keys: [[UInt8]], arguments: [RedisArgument])], slots: [Int], after: [RedisCommand], on eventLoop: any EventLoop
    ) -> EventLoopFuture<[RESPValue]?> {
        self.onOnePrimary(of: slots, on: eventLoop) { node in node.evaluate(script, calls: calls, after: after, on: eventLoop) }
    }

    /// Sends `commands` (whose keys lie in `slots`) in one write to the primary the map names for all of
    /// those slots; answers their replies, error replies as values. Nil, sending nothing, when the map
    /// names no single primary for them all, or the write could not be made (then nothing ran).
    func send(together commands: [RedisCommand], slots: [Int], on eventLoop: any EventLoop) -> EventLoopFuture<[RESPValue]?> {
        self.onOnePrimary(of: slots, on: eventLoop) { node in node.send(commands, on: eventLoop) }
    }

    private func onOnePrimary(
        of slots: [Int], on eventLoop: any EventLoop, _ write: (RedisNode) -> EventLoopFuture<[RESPValue]>
    ) -> EventLoopFuture<[RESPValue]?> {
        let known = self.state.withLockedValue { state -> (ClusterNode, Member)? in
            let owners = Set(slots.map { state.owners[$0] })
            guard owners.count == 1, let address = owners.first ?? nil else { return nil }
            return (address, self.node(address, in: &state))
        }
        guard let (_, member) = known else { return eventLoop.makeSucceededFuture(nil) }
        member.roundTrips.increment()
        return write(member.node).map { Optional($0) }.flatMapError { error in
            member.errors.increment()
            // Never written: each call finds its node on its own. Written, with the outcome unknown: fail.
            guard let redisError = error as? RedisError, redisError.kind == .connectionFailed else {
                if let redisError = error as? RedisError, redisError.kind == .connectionClosed || redisError.kind == .timeout { self.requestRefresh() }
                return eventLoop.makeFailedFuture(error)
            }
            return eventLoop.makeSucceededFuture(nil)
        }
    }

    /// Sends commands whose keys are all in `slot` in one write (keyless ones, such as `TIME`, go along);
    /// answers their replies in order, error replies as values. Reads only: after an `ASK`, the
    /// commands it names are read again from the node it names, the others' replies kept.
    func send(_ commands: [RedisCommand], slot: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[RESPValue]> {
        self.routed(slot: slot, on: eventLoop, attempt: Attempt(keepsAnswered: true)) { node, asking in
            guard asking else { return node.send(commands, on: eventLoop) }
            return node.send(commands.flatMap { [RedisCommand("ASKING"), $0] }, on: eventLoop).map { replies in
                stride(from: 1, to: replies.count, by: 2).map { replies[$0] }
            }
        }
    }

    /// Sends a transaction (`MULTI` ... `EXEC`, and what follows it in the write) whose keys are all in
    /// `slot` to the slot's primary, following `MOVED` and waiting out `TRYAGAIN` (queued commands
    /// refused so make `EXEC` abort: nothing ran). Never after an `ASK`: a slot being migrated answers
    /// no replies, and the caller sends the work another way (`ASKING` does not reach queued commands).
    func transact(_ commands: [RedisCommand], slot: Int, on eventLoop: any EventLoop) -> EventLoopFuture<[RESPValue]> {
        self.routed(slot: slot, on: eventLoop, attempt: Attempt()) { node, asking in
            asking ? eventLoop.makeSucceededFuture([]) : node.send(commands, on: eventLoop)
        }
    }

    /// Sends each command to the primary of its own slot: one write per primary, the primaries at once.
    /// A command redirected or refused for now is sent again on its own (`send(_:slot:on:)`).
    func send(_ commands: [(slot: Int, command: RedisCommand)], on eventLoop: any EventLoop) -> EventLoopFuture<[RESPValue]> {
        guard !commands.isEmpty else { return eventLoop.makeSucceededFuture([]) }
        let groups: [ClusterNode?: [Int]] = self.state.withLockedValue { state in
            Dictionary(grouping: commands.indices) { state.owners[commands[$0].slot] }
        }
        let sends = groups.map { owner, indexes -> EventLoopFuture<[(Int, RESPValue)]> in
            guard let owner else {
                // No primary known for these slots: each on its own, after a refresh.
                let each = indexes.map { index in self.send([commands[index].command], slot: commands[index].slot, on: eventLoop).map { (index, $0[0]) } }
                return EventLoopFuture.whenAllSucceed(each, on: eventLoop)
            }
            let member = self.state.withLockedValue { self.node(owner, in: &$0) }
            member.roundTrips.increment()
            return member.node.send(indexes.map { commands[$0].command }, on: eventLoop).flatMap { replies in
                let each = zip(indexes, replies).map { index, reply -> EventLoopFuture<(Int, RESPValue)> in
                    if case .reply = Self.verdict(reply) { return eventLoop.makeSucceededFuture((index, reply)) }
                    return self.send([commands[index].command], slot: commands[index].slot, on: eventLoop).map { (index, $0[0]) }
                }
                return EventLoopFuture.whenAllSucceed(each, on: eventLoop)
            }.flatMapErrorThrowing { error in
                member.errors.increment()
                if (error as? RedisError)?.kind == .connectionFailed { self.requestRefresh() }
                throw error
            }
        }
        return EventLoopFuture.whenAllSucceed(sends, on: eventLoop).map { parts in
            var replies = [RESPValue](repeating: .null, count: commands.count)
            for (index, reply) in parts.joined() { replies[index] = reply }
            return replies
        }
    }

    /// Sends with `write` to the primary of `slot` (or the node an `ASK` named, with `asking` true),
    /// following redirects and trying again what a node refused for now, as the type's comment says.
    /// The verdict is the first reply's that is not an answer: a script's, or any command's of a read.
    private func routed(
        slot: Int, on eventLoop: any EventLoop, attempt: Attempt,
        _ write: @escaping @Sendable (RedisNode, _ asking: Bool) -> EventLoopFuture<[RESPValue]>
    ) -> EventLoopFuture<[RESPValue]> {
        // The common case, a slot whose primary the map names: no future until the write's own.
        let known = self.state.withLockedValue { state -> (ClusterNode, Member)? in
            guard let address = attempt.ask ?? state.owners[slot] else { return nil }
            return (address, self.node(address, in: &state))
        }
        guard let (address, member) = known else {
            // No primary in the map for the slot: read it again; still none is a cluster down for the
            // slot (`CLUSTERDOWN`, a 503).
            return self.refresh(on: eventLoop).flatMap { _ in
                guard self.state.withLockedValue({ $0.owners[slot] }) != nil else {
                    return eventLoop.makeFailedFuture(RedisError.replyError("CLUSTERDOWN no primary serves hash slot \(slot)"))
                }
                return self.routed(slot: slot, on: eventLoop, attempt: attempt, write)
            }
        }
        member.roundTrips.increment()
        let promise = eventLoop.makePromise(of: [RESPValue].self)
        write(member.node, attempt.ask != nil).whenComplete { result in
            switch result {
            case .success(let replies):
                // Plain replies (no error at all): the answer, as it is.
                guard replies.contains(where: { if case .error = $0 { true } else { false } }) else {
                    promise.succeed(replies)
                    return
                }
                promise.completeWith(self.follow(replies, slot: slot, on: eventLoop, attempt: attempt, write))
            case .failure(let error):
                member.errors.increment()
                promise.completeWith(self.unanswered(error, from: address, slot: slot, on: eventLoop, attempt: attempt, write))
            }
        }
        return promise.futureResult
    }

    /// A send that got no reply. Never written (unreachable): once a refresh names another primary for
    /// the slot, send it there, once. Sent, with its outcome unknown (the connection dropped, no reply
    /// in time): never sent again.
    private func unanswered(
        _ error: any Error, from address: ClusterNode, slot: Int, on eventLoop: any EventLoop, attempt: Attempt,
        _ write: @escaping @Sendable (RedisNode, _ asking: Bool) -> EventLoopFuture<[RESPValue]>
    ) -> EventLoopFuture<[RESPValue]> {
        guard let redisError = error as? RedisError, redisError.kind == .connectionFailed else {
            if let redisError = error as? RedisError, redisError.kind == .connectionClosed || redisError.kind == .timeout { self.requestRefresh() }
            return eventLoop.makeFailedFuture(error)
        }
        guard !attempt.unreachableRetried, attempt.ask == nil else { return eventLoop.makeFailedFuture(error) }
        return self.refresh(on: eventLoop).flatMap { _ in
            let moved = self.state.withLockedValue { $0.owners[slot] } != address
            guard moved else { return eventLoop.makeFailedFuture(error) }
            var next = attempt
            next.unreachableRetried = true
            return self.routed(slot: slot, on: eventLoop, attempt: next, write)
        }.flatMapErrorThrowing { _ in throw error }
    }

    private func follow(
        _ replies: [RESPValue], slot: Int, on eventLoop: any EventLoop, attempt: Attempt,
        _ write: @escaping @Sendable (RedisNode, _ asking: Bool) -> EventLoopFuture<[RESPValue]>
    ) -> EventLoopFuture<[RESPValue]> {
        var moved: ClusterRedirect?
        var ask: ClusterRedirect?
        var asked: [Int] = []
        var busy = false
        for (index, reply) in replies.enumerated() {
            switch Self.verdict(reply) {
            case .reply: break
            case .moved(let redirect): moved = moved ?? redirect
            case .ask(let redirect):
                ask = ask ?? redirect
                asked.append(index)
            case .busy: busy = true
            }
        }
        var next = attempt
        next.ask = nil
        if let moved {
            guard attempt.redirects < Self.maxRedirects else { return eventLoop.makeSucceededFuture(replies) }
            next.redirects += 1
            ClusterMetrics.redirects("moved").increment()
            self.patch(moved)
            self.requestRefresh()
            return self.routed(slot: slot, on: eventLoop, attempt: next, write)
        }
        if busy {
            guard attempt.busyTries < Self.maxBusyTries else { return eventLoop.makeSucceededFuture(replies) }
            next.busyTries += 1
            ClusterMetrics.redirects("retry").increment()
            let wait = TimeAmount.nanoseconds(Self.firstBusyWait.nanoseconds << (attempt.busyTries - 1))
            return eventLoop.scheduleTask(in: wait) {}.futureResult.flatMap { [next] in
                self.routed(slot: slot, on: eventLoop, attempt: next, write)
            }
        }
        guard let ask else { return eventLoop.makeSucceededFuture(replies) }
        guard attempt.redirects < Self.maxRedirects else { return eventLoop.makeSucceededFuture(replies) }
        next.redirects += 1
        next.ask = ask.node
        ClusterMetrics.redirects("ask").increment()
        // In a read, what the first node answered stands (a key moves whole, and only away from it).
        return self.routed(slot: slot, on: eventLoop, attempt: next, write).map { [asked] again in
            guard attempt.keepsAnswered else { return again }
            var merged = replies
            for index in asked where index < again.count { merged[index] = again[index] }
            return merged
        }
    }

    /// Closes every node's connections; later commands fail with `shutdown`.
    func shutdown() {
        let nodes = self.state.withLockedValue { state -> [RedisNode] in
            state.shutDown = true
            state.periodic?.cancel()
            state.periodic = nil
            return state.nodes.values.map(\.node)
        }
        for node in nodes { node.shutdown() }
    }
}
