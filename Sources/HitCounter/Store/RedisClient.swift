import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Tracing

/// The Redis client the store and the roll-ups use: it sends each command to the Redis that holds
/// its keys. That is the one Redis (`RedisNode`), or in a Redis Cluster the primary of the keys'
/// hash slot (`ClusterClient`), which it finds out by itself at the first command
/// (`RedisConfiguration.mode`, docs/cluster.md).
///
/// Every call names the keys it routes by: a script's keys (all in one slot), or the key of a read.
/// Keyless commands go to the one Redis, or to a cluster's first primary.
public final class RedisClient: Sendable {
    /// How commands reach Redis, once known.
    enum Routing: Sendable {
        case standalone(RedisNode)
        case cluster(ClusterClient)

        var isCluster: Bool {
            if case .cluster = self { return true }
            return false
        }
    }

    private enum State {
        case unknown
        case discovering(EventLoopFuture<Routing>)
        case known(Routing)
        case shutDown
    }

    public let configuration: RedisConfiguration
    /// The node the configuration names: the one Redis, or where a cluster is first asked about.
    private let seed: RedisNode
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let spans: RedisSpans
    private let state: NIOLockedValueBox<State>

    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "hitcounter.redis")
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.spans = RedisSpans(configuration: configuration)
        self.seed = RedisNode(configuration: configuration.at(configuration.address), eventLoopGroup: eventLoopGroup, logger: logger)
        self.state = NIOLockedValueBox(configuration.mode == .standalone ? .known(.standalone(self.seed)) : .unknown)
    }

    /// The event loops the client has connections on.
    var eventLoops: [any EventLoop] { self.seed.eventLoops }

    /// An event loop of this client, for futures that need one: the caller's, or the first.
    var eventLoop: any EventLoop { self.seed.currentEventLoop }

    /// Whether the server is a cluster; nil until the first command found out.
    public var isCluster: Bool? { self.knownRouting?.isCluster }

    /// Runs `body` with the routing: at once when it is known (every call but the first), else once
    /// the first command found it out.
    func withRouting<Value: Sendable>(on eventLoop: any EventLoop, _ body: @escaping @Sendable (Routing) -> EventLoopFuture<Value>) -> EventLoopFuture<Value> {
        if let routing = self.knownRouting { return body(routing) }
        return self.routing(on: eventLoop).flatMap(body)
    }

    /// How to reach Redis: known after the first command, asked of the server before it (`INFO
    /// cluster`, or `CLUSTER SLOTS` in cluster mode). A failed attempt is tried again by the next call.
    func routing(on eventLoop: any EventLoop) -> EventLoopFuture<Routing> {
        enum Next {
            case known(Routing)
            case wait(EventLoopFuture<Routing>)
            case discover(EventLoopPromise<Routing>)
            case fail
        }
        let next = self.state.withLockedValue { state -> Next in
            switch state {
            case .known(let routing): return .known(routing)
            case .discovering(let future): return .wait(future)
            case .shutDown: return .fail
            case .unknown:
                let promise = eventLoop.makePromise(of: Routing.self)
                state = .discovering(promise.futureResult)
                return .discover(promise)
            }
        }
        switch next {
        case .known(let routing): return eventLoop.makeSucceededFuture(routing)
        case .wait(let future): return future
        case .fail: return eventLoop.makeFailedFuture(RedisError.shutdown)
        case .discover(let promise):
            self.discover(on: eventLoop).whenComplete { result in
                let shutDown = self.state.withLockedValue { state -> Bool in
                    if case .shutDown = state { return true }
                    switch result {
                    case .success(let routing): state = .known(routing)
                    case .failure: state = .unknown
                    }
                    return false
                }
                if shutDown, case .success(.cluster(let cluster)) = result { cluster.shutdown() }
                promise.completeWith(result)
            }
            return promise.futureResult
        }
    }

    private func discover(on eventLoop: any EventLoop) -> EventLoopFuture<Routing> {
        // Several nodes named: only a cluster has them (and the first may be the one that is down).
        let isCluster: EventLoopFuture<Bool> =
            self.configuration.mode == .cluster || !self.configuration.seeds.isEmpty
            ? eventLoop.makeSucceededFuture(true)
            : self.seed.send([RedisCommand("INFO", ["cluster"])], on: eventLoop).map { replies in
                // An error reply (INFO not allowed to this user): take it for one Redis.
                guard case .bulkString(let info) = replies[0] else { return false }
                return String(decoding: info, as: UTF8.self).contains("cluster_enabled:1")
            }
        return isCluster.flatMap { isCluster in
            guard isCluster else { return eventLoop.makeSucceededFuture(.standalone(self.seed)) }
            let cluster = ClusterClient(configuration: self.configuration, eventLoopGroup: self.eventLoopGroup, logger: self.logger)
            return cluster.refresh(on: eventLoop).map { topology in
                self.logger.info("Redis is a cluster", metadata: ["redis.primaries": "\(topology.shards.count)"])
                // Its nodes have their own connections.
                self.seed.shutdown()
                return .cluster(cluster)
            }.flatMapErrorThrowing { error in
                cluster.shutdown()
                throw error
            }
        }
    }

    // MARK: Scripts

    /// Runs a script call and decodes its reply; an error reply is thrown as `replyError` (or
    /// `refused`). On `eventLoop`'s connection to the node of its keys; traced as a child span of each
    /// of `parents`. With `replicated`, and `waitReplicas` set, its writes must reach that many
    /// replicas (`WAIT`) or it fails with `refused`: they may still have been made.
    func run<Call: RedisScriptCall>(
        _ call: Call, on eventLoop: any EventLoop, tracing parents: [TraceParent] = [], attributes: SpanAttributes = [:], replicated: Bool = false
    ) -> EventLoopFuture<Call.Reply> {
        let spans = self.spans(of: call, parents: parents, attributes: attributes)
        return self.execute(call, on: eventLoop, replicated: replicated).ending(spans)
    }

    /// Runs script calls together: in one write to the Redis of their keys (in a cluster, when one
    /// primary holds them all), with one `WAIT` after them all when `replicated` and `waitReplicas` is
    /// set, rather than one per call. A call that did not run there (NOSCRIPT, a redirect, a node busy
    /// for now), and every call when no one node holds them all, runs on its own with its own `WAIT`.
    /// Answers each call's outcome, in order, as `run` would; traced per call, as `run` is.
    func run<Call: RedisScriptCall>(
        together calls: [Call], on eventLoop: any EventLoop, tracing parents: [[TraceParent]], attributes: [SpanAttributes], replicated: Bool
    ) -> [EventLoopFuture<Call.Reply>] {
        let spans = calls.indices.map { self.spans(of: calls[$0], parents: parents[$0], attributes: attributes[$0]) }
        guard calls.count > 1 else { return calls.indices.map { self.execute(calls[$0], on: eventLoop, replicated: replicated).ending(spans[$0]) } }
        let replicas = replicated ? self.configuration.waitReplicas : 0
        let after = self.wait(replicas)
        let pieces = calls.map { (keys: $0.keys, arguments: $0.arguments) }
        let together = self.withRouting(on: eventLoop) { routing -> EventLoopFuture<[RESPValue]?> in
            switch routing {
            case .standalone(let node):
                return node.evaluate(Call.script, calls: pieces, after: after, on: eventLoop).map { Optional($0) }
            case .cluster(let cluster):
                let slots = calls.map { $0.keys.first.map(HashSlot.of) ?? 0 }
                return cluster.evaluate(Call.script, calls: pieces, slots: slots, after: after, on: eventLoop)
            }
        }
        return calls.indices.map { index in
            together.flatMap { replies -> EventLoopFuture<Call.Reply> in
                guard let replies, !Self.didNotRun(replies[index]) else { return self.execute(calls[index], on: eventLoop, replicated: replicated) }
                return eventLoop.makeCompletedFuture(withResultOf: {
                    try self.decode(Call.self, replies[index], waited: replicas > 0 ? replies.last : nil, replicas: replicas)
                })
            }.ending(spans[index])
        }
    }

    private func spans<Call: RedisScriptCall>(of call: Call, parents: [TraceParent], attributes: SpanAttributes) -> [any Span] {
        var attributes = attributes
        attributes["hitcounter.script"] = Call.script.name
        return self.spans.start("EVALSHA", commands: 1, parents: parents, attributes: attributes)
    }

    /// `WAIT` for `replicas`, or nothing.
    private func wait(_ replicas: Int) -> [RedisCommand] {
        replicas > 0 ? [RedisCommand("WAIT", [RedisArgument(replicas), RedisArgument(self.waitMilliseconds)])] : []
    }

    /// A reply of a command that did not run: the script was not cached, or a cluster node sent it
    /// elsewhere or refused it for now.
    private static func didNotRun(_ reply: RESPValue) -> Bool {
        guard case .error(let message) = reply else { return false }
        return message.hasPrefix("NOSCRIPT") || ClusterClient.isRouting(reply)
    }

    private func execute<Call: RedisScriptCall>(_ call: Call, on eventLoop: any EventLoop, replicated: Bool) -> EventLoopFuture<Call.Reply> {
        let replicas = replicated ? self.configuration.waitReplicas : 0
        let after = self.wait(replicas)
        return self.withRouting(on: eventLoop) { routing -> EventLoopFuture<[RESPValue]> in
            switch routing {
            case .standalone(let node):
                return node.evaluate(Call.script, keys: call.keys, arguments: call.arguments, after: after, on: eventLoop)
            case .cluster(let cluster):
                let slot = call.keys.first.map(HashSlot.of) ?? 0
                return cluster.evaluate(Call.script, keys: call.keys, arguments: call.arguments, slot: slot, after: after, on: eventLoop)
            }
        }.flatMapThrowing { replies in
            try self.decode(Call.self, replies[0], waited: replicas > 0 ? replies[1] : nil, replicas: replicas)
        }
    }

    /// A script's reply, once `WAIT` (when asked for) said enough replicas have its writes.
    private func decode<Call: RedisScriptCall>(_: Call.Type, _ reply: RESPValue, waited: RESPValue?, replicas: Int) throws -> Call.Reply {
        if case .error(let message) = reply { throw RedisError.replyError(message) }
        try self.check(waited, replicas: replicas)
        return try Call.decode(reply)
    }

    /// Throws `refused` unless `WAIT`'s reply (when it was asked for) says `replicas` have the writes.
    private func check(_ waited: RESPValue?, replicas: Int) throws {
        guard let waited else { return }
        let reached = waited.int64 ?? 0
        guard reached >= replicas else {
            throw RedisError(.refused, "NOREPLICAS the write reached \(reached) of \(replicas) replicas within \(self.waitMilliseconds) ms")
        }
    }

    func run<Call: RedisScriptCall>(_ call: Call) async throws -> Call.Reply {
        try await self.run(call, on: self.eventLoop).get()
    }

    /// How long `WAIT` waits for replicas: half the command timeout, so its answer comes within it.
    private var waitMilliseconds: Int64 { max(1, self.configuration.commandTimeout.nanoseconds / 2_000_000) }

    // MARK: Commands

    /// Sends commands in one write on `eventLoop`'s connection to the node of `key` (every keyed
    /// command's key must share its slot), and returns their replies in order; error replies are
    /// values. Traced as a child span of `parent`, named for the commands.
    func send(_ commands: [RedisCommand], routedBy key: [UInt8]?, on eventLoop: any EventLoop, tracing parent: TraceParent? = nil) -> EventLoopFuture<[RESPValue]> {
        let spans = parent.map { self.spans.start(RedisCommand.names(commands), commands: commands.count, parents: [$0]) } ?? []
        return self.withRouting(on: eventLoop) { routing in
            switch routing {
            case .standalone(let node): node.send(commands, on: eventLoop)
            case .cluster(let cluster): cluster.send(commands, slot: key.map(HashSlot.of) ?? 0, on: eventLoop)
            }
        }.ending(spans)
    }

    /// Runs `commands` as one transaction (`MULTI` ... `EXEC`) on the node of `key` (every key of them
    /// in its slot), with `WAIT` after it when `replicated` and `waitReplicas` is set, in one write.
    /// Answers `EXEC`'s replies, one per command (a command that failed while running answers its
    /// error; the others ran), or nil when the transaction did not run (`EXECABORT`: a command refused
    /// as it was queued, or a slot being migrated), so the caller can send the work another way. Traced
    /// as a child span of each of `parents`.
    func transact(
        _ commands: [RedisCommand], routedBy key: [UInt8], on eventLoop: any EventLoop, tracing parents: [TraceParent], attributes: SpanAttributes = [:],
        replicated: Bool
    ) -> EventLoopFuture<[RESPValue]?> {
        let spans = self.spans(ofTransaction: commands, parents: parents, attributes: attributes)
        return self.transact(commands, routedBy: key, on: eventLoop, replicated: replicated).ending(spans)
    }

    /// Runs transactions together, as `run(together:)` runs script calls: in one write to the Redis of
    /// their keys (in a cluster, when one primary holds them all), with one `WAIT` after them all. A
    /// transaction that a cluster node redirected or refused for now (nothing of it ran), and every one
    /// when no one node holds them all, runs on its own. Answers each one's outcome, as `transact` would.
    func transact(
        together transactions: [(commands: [RedisCommand], route: [UInt8])], on eventLoop: any EventLoop, tracing parents: [[TraceParent]],
        attributes: [SpanAttributes], replicated: Bool
    ) -> [EventLoopFuture<[RESPValue]?>] {
        let spans = transactions.indices.map { self.spans(ofTransaction: transactions[$0].commands, parents: parents[$0], attributes: attributes[$0]) }
        guard transactions.count > 1 else {
            return transactions.indices.map { self.transact(transactions[$0].commands, routedBy: transactions[$0].route, on: eventLoop, replicated: replicated).ending(spans[$0]) }
        }
        let replicas = replicated ? self.configuration.waitReplicas : 0
        let blocks = transactions.map { [RedisCommand.multi] + $0.commands + [RedisCommand.exec] }
        let write = blocks.flatMap { $0 } + self.wait(replicas)
        let together = self.withRouting(on: eventLoop) { routing -> EventLoopFuture<[RESPValue]?> in
            switch routing {
            case .standalone(let node): node.send(write, on: eventLoop).map { Optional($0) }
            case .cluster(let cluster): cluster.send(together: write, slots: transactions.map { HashSlot.of($0.route) }, on: eventLoop)
            }
        }
        var starts: [Int] = []
        var start = 0
        for block in blocks {
            starts.append(start)
            start += block.count
        }
        return transactions.indices.map { [starts] index in
            together.flatMap { replies -> EventLoopFuture<[RESPValue]?> in
                let alone = { self.transact(transactions[index].commands, routedBy: transactions[index].route, on: eventLoop, replicated: replicated) }
                guard let replies, replies.count == write.count else { return alone() }
                let block = Array(replies[starts[index]..<(starts[index] + blocks[index].count)])
                // Redirected, or refused for now, as it was queued: nothing of it ran.
                guard !block.contains(where: ClusterClient.isRouting) else { return alone() }
                return eventLoop.makeCompletedFuture { try self.executed(block, replicas: replicas, waited: replicas > 0 ? replies.last : nil) }
            }.ending(spans[index])
        }
    }

    private func transact(_ commands: [RedisCommand], routedBy key: [UInt8], on eventLoop: any EventLoop, replicated: Bool) -> EventLoopFuture<[RESPValue]?> {
        let replicas = replicated ? self.configuration.waitReplicas : 0
        let write = [RedisCommand.multi] + commands + [RedisCommand.exec] + self.wait(replicas)
        return self.withRouting(on: eventLoop) { routing in
            switch routing {
            case .standalone(let node): node.send(write, on: eventLoop)
            case .cluster(let cluster): cluster.transact(write, slot: HashSlot.of(key), on: eventLoop)
            }
        }.flatMapThrowing { replies -> [RESPValue]? in
            guard replies.count == write.count else { return nil }
            return try self.executed(Array(replies[..<(commands.count + 2)]), replicas: replicas, waited: replicas > 0 ? replies.last : nil)
        }
    }

    /// `EXEC`'s replies, from a transaction's (`MULTI`, each command's `QUEUED`, `EXEC`), once `WAIT` (when
    /// asked for) said enough replicas have its writes; nil when it did not run.
    private func executed(_ block: [RESPValue], replicas: Int, waited: RESPValue?) throws -> [RESPValue]? {
        guard case .array(let executed) = block.last, executed.count == block.count - 2 else { return nil }
        try self.check(waited, replicas: replicas)
        return executed
    }

    /// A transaction's span is named `MULTI`; its commands are in `db.operation.batch.size`.
    private func spans(ofTransaction commands: [RedisCommand], parents: [TraceParent], attributes: SpanAttributes) -> [any Span] {
        parents.isEmpty ? [] : self.spans.start("MULTI", commands: commands.count, parents: parents, attributes: attributes)
    }

    /// Equal for keys whose commands go to the same Redis: one value on one Redis (and before the first
    /// command found out), in a cluster one per primary of the map as it stands. `key` is asked for
    /// only in a cluster.
    func route(ofKey key: () -> [UInt8]) -> Int {
        guard case .cluster(let cluster) = self.knownRouting else { return 0 }
        return cluster.route(ofSlot: HashSlot.of(key()))
    }

    private var knownRouting: Routing? {
        self.state.withLockedValue { state in
            if case .known(let routing) = state { return routing }
            return nil
        }
    }

    func send(_ command: RedisCommand, routedBy key: [UInt8]? = nil) async throws -> RESPValue {
        try await self.send([command], routedBy: key, on: self.eventLoop).get()[0]
    }

    func send(_ commands: [RedisCommand], routedBy key: [UInt8]? = nil) async throws -> [RESPValue] {
        try await self.send(commands, routedBy: key, on: self.eventLoop).get()
    }

    /// Sends each command to the node of its own key (`keys[i]` for `commands[i]`): in a cluster, one
    /// write per primary. Replies in order; error replies are values.
    func send(_ commands: [RedisCommand], routedBy keys: [[UInt8]]) async throws -> [RESPValue] {
        let eventLoop = self.eventLoop
        return try await self.withRouting(on: eventLoop) { routing in
            switch routing {
            case .standalone(let node): node.send(commands, on: eventLoop)
            case .cluster(let cluster): cluster.send(zip(keys, commands).map { (HashSlot.of($0), $1) }, on: eventLoop)
            }
        }.get()
    }

    /// Runs a keyless script call on each primary (the one Redis, or every primary of the cluster's
    /// map, which must give every slot a primary), and answers their replies.
    func runOnEveryPrimary<Call: RedisScriptCall>(_ call: Call) async throws -> [Call.Reply] {
        var replies: [Call.Reply] = []
        for node in try await self.primaries() {
            let reply = try await node.evaluate(Call.script, keys: call.keys, arguments: call.arguments, on: self.eventLoop).get()[0]
            if case .error(let message) = reply { throw RedisError.replyError(message) }
            replies.append(try Call.decode(reply))
        }
        return replies
    }

    /// Each primary's node: the one Redis, or every primary of the cluster's map, read again now.
    func primaries() async throws -> [RedisNode] {
        switch try await self.routing(on: self.eventLoop).get() {
        case .standalone(let node): return [node]
        case .cluster(let cluster):
            let topology = try await cluster.refresh(on: self.eventLoop).get()
            guard topology.coversEverySlot else {
                throw RedisError(.refused, "CLUSTERDOWN the cluster has slots no primary serves")
            }
            return cluster.primaries
        }
    }

    /// Closes the connections; later commands fail with `shutdown`.
    public func shutdown() {
        let previous = self.state.withLockedValue { state in
            defer { state = .shutDown }
            return state
        }
        if case .known(.cluster(let cluster)) = previous { cluster.shutdown() }
        self.seed.shutdown()
    }
}
