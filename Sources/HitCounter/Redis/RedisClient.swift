import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The Redis client: one pipelined connection, reconnected on demand.
///
/// - Commands share round trips (group commit, see `RedisChannelHandler`).
/// - After a failed connection attempt, commands fail at once (`connectionFailed`) until
///   `reconnectDelay` has passed; then the next command tries again. No background task, no retry loop.
/// - Scripts run with EVALSHA; a NOSCRIPT reply (Redis restarted or flushed its script cache) falls
///   back to EVAL, which caches the script again.
public final class RedisClient: Sendable {
    private enum State {
        case idle(retryAfter: NIODeadline?)
        case connecting(EventLoopFuture<RedisConnection>)
        case connected(RedisConnection)
        case shutDown
    }

    public let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = NIOLockedValueBox(State.idle(retryAfter: nil))

    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "hitcounter.redis")
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// Sends one command; an error reply is returned as `.error`, not thrown.
    func send(_ command: RedisCommand) -> EventLoopFuture<RESPValue> {
        if let connection = self.activeConnection() {
            return connection.send(command)
        }
        return self.connected().flatMap { $0.send(command) }
    }

    func send(_ command: RedisCommand) async throws -> RESPValue {
        try await self.send(command).get()
    }

    /// Sends commands in one write and returns their replies in order; error replies are values.
    func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        try await self.connected().flatMap { $0.send(commands) }.get()
    }

    /// Runs a script call and decodes its reply. An error reply is thrown as `replyError` (or `refused`).
    func run<Call: RedisScriptCall>(_ call: Call) -> EventLoopFuture<Call.Reply> {
        self.evaluate(Call.script, keys: call.keys, arguments: call.arguments).flatMapThrowing { try Call.decode($0) }
    }

    func run<Call: RedisScriptCall>(_ call: Call) async throws -> Call.Reply {
        try await self.run(call).get()
    }

    /// Runs many calls of one script in one write, and decodes their replies in order. Calls that
    /// Redis answers NOSCRIPT are sent again with EVAL.
    func run<Call: RedisScriptCall>(_ calls: [Call]) async throws -> [Call.Reply] {
        let tails = calls.map { Self.tail(keys: $0.keys, arguments: $0.arguments) }
        var replies = try await self.send(tails.map { RedisCommand("EVALSHA", [RedisArgument(Call.script.sha1)] + $0) })
        let missing = replies.indices.filter { if case .error(let message) = replies[$0] { message.hasPrefix("NOSCRIPT") } else { false } }
        if !missing.isEmpty {
            let again = try await self.send(missing.map { RedisCommand("EVAL", [RedisArgument(Call.script.source)] + tails[$0]) })
            for (index, reply) in zip(missing, again) { replies[index] = reply }
        }
        return try replies.map { reply in
            if case .error(let message) = reply { throw RedisError.replyError(message) }
            return try Call.decode(reply)
        }
    }

    private static func tail(keys: [[UInt8]], arguments: [RedisArgument]) -> [RedisArgument] {
        var tail: [RedisArgument] = [RedisArgument(keys.count)]
        tail.reserveCapacity(keys.count + arguments.count + 1)
        for key in keys { tail.append(RedisArgument(bytes: key)) }
        return tail + arguments
    }

    private func evaluate(_ script: RedisScript, keys: [[UInt8]], arguments: [RedisArgument]) -> EventLoopFuture<RESPValue> {
        let tail = Self.tail(keys: keys, arguments: arguments)
        if let connection = self.activeConnection() {
            return Self.evaluate(script, tail: tail, on: connection)
        }
        return self.connected().flatMap { [tail] in Self.evaluate(script, tail: tail, on: $0) }
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

    /// Closes the connection; later commands fail with `shutdown`.
    public func shutdown() {
        let previous = self.state.withLockedValue { state in
            defer { state = .shutDown }
            return state
        }
        switch previous {
        case .connected(let connection): connection.close()
        case .connecting(let future): future.whenSuccess { $0.close() }
        case .idle, .shutDown: break
        }
    }

    // MARK: Connection state

    private enum Next {
        case use(RedisConnection)
        case wait(EventLoopFuture<RedisConnection>)
        case connect(EventLoopPromise<RedisConnection>)
        case fail(RedisError)
    }

    /// The live connection, if there is one: the common case, without building a future.
    private func activeConnection() -> RedisConnection? {
        self.state.withLockedValue { state in
            guard case .connected(let connection) = state, connection.isActive else { return nil }
            return connection
        }
    }

    private func connected() -> EventLoopFuture<RedisConnection> {
        let next: Next = self.state.withLockedValue { state in
            switch state {
            case .connected(let connection) where connection.isActive:
                return .use(connection)
            case .connecting(let future):
                return .wait(future)
            case .idle(let retryAfter?) where retryAfter > .now():
                return .fail(.connectionFailed("Redis was unreachable moments ago; the next attempt comes shortly"))
            case .idle, .connected:
                let promise = self.eventLoopGroup.next().makePromise(of: RedisConnection.self)
                state = .connecting(promise.futureResult)
                return .connect(promise)
            case .shutDown:
                return .fail(.shutdown)
            }
        }
        switch next {
        case .use(let connection):
            return connection.channel.eventLoop.makeSucceededFuture(connection)
        case .wait(let future):
            return future
        case .fail(let error):
            return self.eventLoopGroup.any().makeFailedFuture(error)
        case .connect(let promise):
            // Outside the lock: the attempt may complete inline.
            self.startConnecting(promise)
            return promise.futureResult
        }
    }

    private func startConnecting(_ promise: EventLoopPromise<RedisConnection>) {
        RedisConnection.connect(to: self.configuration, on: promise.futureResult.eventLoop)
            .whenComplete { result in
                let shutDown = self.state.withLockedValue { state in
                    if case .shutDown = state { return true }
                    switch result {
                    case .success(let connected): state = .connected(connected)
                    case .failure: state = .idle(retryAfter: .now() + self.configuration.reconnectDelay)
                    }
                    return false
                }
                switch result {
                case .success(let connected):
                    if shutDown {
                        connected.close()
                        promise.fail(RedisError.shutdown)
                        return
                    }
                    RedisMetrics.connects("success").increment()
                    self.logger.info("connected to Redis", metadata: ["redis.address": "\(self.configuration)"])
                    promise.succeed(connected)
                case .failure(let error):
                    RedisMetrics.connects("failure").increment()
                    // At debug: the store reports an outage once, at its start and its end (`RedisHealth`).
                    self.logger.debug(
                        "cannot connect to Redis",
                        metadata: ["redis.address": "\(self.configuration)", "redis.error": "\(error)"]
                    )
                    promise.fail(error)
                }
            }
    }
}
