import Logging
import Synchronization
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Tracing

/// The Redis client: one pipelined connection per event loop, each reconnected on demand.
///
/// - A command goes out on the connection of the event loop it is sent from (`RedisConnectionSlot`),
///   so a request served on a loop reaches Redis and gets its reply without changing threads.
/// - Commands share round trips (group commit, see `RedisChannelHandler`); the backlog of commands
///   waiting for replies is bounded for the client as a whole.
/// - After a failed connection attempt, commands fail at once (`connectionFailed`) until
///   `reconnectDelay` has passed; then the next command tries again. No background task, no retry loop.
/// - Scripts run with EVALSHA; a NOSCRIPT reply (Redis restarted or flushed its script cache) falls
///   back to EVAL, which caches the script again.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    /// One per event loop of the group, in the group's order.
    private let slots: [RedisConnectionSlot]
    /// For callers on no loop of the group: their commands take the slots in turn.
    private let nextSlot = Atomic<Int>(0)
    private let spans: RedisSpans

    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "hitcounter.redis")
    ) {
        self.configuration = configuration
        self.spans = RedisSpans(configuration: configuration)
        let backlog = RedisBacklog(limit: configuration.maxPendingCommands)
        self.slots = eventLoopGroup.makeIterator().map {
            RedisConnectionSlot(configuration: configuration, eventLoop: $0, backlog: backlog, logger: logger)
        }
    }

    /// The slot of the event loop this runs on, or the next one in turn.
    private var slot: RedisConnectionSlot {
        self.slot(for: MultiThreadedEventLoopGroup.currentEventLoop)
    }

    /// The slot of `eventLoop` when it is one of the client's; the first for a caller on no loop (a
    /// test, a tool: its calls then share one connection); else the next one in turn.
    private func slot(for eventLoop: (any EventLoop)?) -> RedisConnectionSlot {
        guard let eventLoop else { return self.slots[0] }
        for slot in self.slots where slot.eventLoop === eventLoop { return slot }
        return self.slots[self.nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue % self.slots.count]
    }

    /// The event loops the client has a connection on.
    var eventLoops: [any EventLoop] { self.slots.map(\.eventLoop) }

    /// An event loop of this client, for futures that need one.
    var eventLoop: any EventLoop { self.slot.eventLoop }

    /// Sends one command; an error reply is returned as `.error`, not thrown.
    func send(_ command: RedisCommand) -> EventLoopFuture<RESPValue> {
        let slot = self.slot
        if let connection = slot.activeConnection() {
            return connection.send(command)
        }
        return slot.connected().flatMap { $0.send(command) }
    }

    func send(_ command: RedisCommand) async throws -> RESPValue {
        try await self.send(command).get()
    }

    /// Sends commands in one write and returns their replies in order; error replies are values.
    func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        try await self.slot.connected().flatMap { $0.send(commands) }.get()
    }

    /// Runs a script call and decodes its reply. An error reply is thrown as `replyError` (or `refused`).
    /// On `eventLoop`'s connection; traced as a child span of each of `parents`, with `attributes`.
    func run<Call: RedisScriptCall>(
        _ call: Call, on eventLoop: any EventLoop, tracing parents: [TraceParent] = [], attributes: SpanAttributes = [:]
    ) -> EventLoopFuture<Call.Reply> {
        var attributes = attributes
        attributes["hitcounter.script"] = Call.script.name
        let spans = self.spans.start("EVALSHA", commands: 1, parents: parents, attributes: attributes)
        return self.evaluate(Call.script, keys: call.keys, arguments: call.arguments, on: self.slot(for: eventLoop))
            .flatMapThrowing { try Call.decode($0) }
            .ending(spans)
    }

    func run<Call: RedisScriptCall>(_ call: Call) async throws -> Call.Reply {
        try await self.run(call, on: self.slot.eventLoop).get()
    }

    /// Sends commands in one write on `eventLoop`'s connection and returns their replies in order;
    /// error replies are values. Traced as a child span of `parent`, named for the commands.
    func send(_ commands: [RedisCommand], on eventLoop: any EventLoop, tracing parent: TraceParent? = nil) -> EventLoopFuture<[RESPValue]> {
        let spans = parent.map { self.spans.start(RedisCommand.names(commands), commands: commands.count, parents: [$0]) } ?? []
        let slot = self.slot(for: eventLoop)
        if let connection = slot.activeConnection() { return connection.send(commands).ending(spans) }
        return slot.connected().flatMap { $0.send(commands) }.ending(spans)
    }

    private static func tail(keys: [[UInt8]], arguments: [RedisArgument]) -> [RedisArgument] {
        var tail: [RedisArgument] = [RedisArgument(keys.count)]
        tail.reserveCapacity(keys.count + arguments.count + 1)
        for key in keys { tail.append(RedisArgument(bytes: key)) }
        return tail + arguments
    }

    private func evaluate(_ script: RedisScript, keys: [[UInt8]], arguments: [RedisArgument], on slot: RedisConnectionSlot) -> EventLoopFuture<RESPValue> {
        let tail = Self.tail(keys: keys, arguments: arguments)
        if let connection = slot.activeConnection() {
            return Self.evaluate(script, tail: tail, on: connection)
        }
        return slot.connected().flatMap { [tail] in Self.evaluate(script, tail: tail, on: $0) }
    }

    private static func evaluate(_ script: RedisScript, tail: [RedisArgument], on connection: RedisConnection) -> EventLoopFuture<RESPValue> {
        let promise = connection.channel.eventLoop.makePromise(of: RESPValue.self)
        connection.send(RedisCommand("EVALSHA", [RedisArgument(script.sha1)] + tail)).whenComplete { result in
            switch result {
            case .success(.error(let message)) where message.hasPrefix("NOSCRIPT"):
                // Redis does not have the script (yet): EVAL runs it and caches it.
                connection.send(RedisCommand("EVAL", [RedisArgument(script.source)] + tail)).whenComplete { result in
                    Self.complete(promise, with: result)
                }
            default:
                Self.complete(promise, with: result)
            }
        }
        return promise.futureResult
    }

    private static func complete(_ promise: EventLoopPromise<RESPValue>, with result: Result<RESPValue, any Error>) {
        switch result {
        case .success(.error(let message)): promise.fail(RedisError.replyError(message))
        case .success(let reply): promise.succeed(reply)
        case .failure(let error): promise.fail(error)
        }
    }

/// Succeeds when Redis answers PING within the command timeout.
    func ping() async throws {
        let reply = try await self.send(RedisCommand("PING"))
        guard reply == .simpleString("PONG") else { throw RedisError.protocolError("PING answered \(reply)") }
    }

    /// Closes the connections; later commands fail with `shutdown`.
    public func shutdown() {
        for slot in self.slots { slot.shutdown() }
    }
}
