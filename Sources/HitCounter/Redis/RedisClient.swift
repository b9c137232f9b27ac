import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A Lua script the client loads on every connection and runs with EVALSHA.
struct RedisScript: Sendable {
    /// Position in the client's script list.
    let index: Int
    let source: String
}

/// The Redis client: one pipelined connection, reconnected on demand.
///
/// - Commands share round trips (group commit, see `RedisChannelHandler`).
/// - After a failed connection attempt, commands fail at once (`connectionFailed`) until
///   `reconnectDelay` has passed; then the next command tries again. No background task, no retry loop.
/// - Scripts are loaded on connect and run with EVALSHA; a NOSCRIPT reply (Redis flushed its script
///   cache) falls back to EVAL, which reloads the script.
final class RedisClient: Sendable {
    private struct Connected: Sendable {
        let connection: RedisConnection
        let digests: [String]
    }

    private enum State {
        case idle(retryAfter: NIODeadline?)
        case connecting(EventLoopFuture<Connected>)
        case connected(Connected)
        case shutDown
    }

    let configuration: RedisConfiguration
    private let scripts: [String]
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = NIOLockedValueBox(State.idle(retryAfter: nil))

    init(
        configuration: RedisConfiguration,
        scripts: [String],
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.scripts = scripts
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
    }

    /// The script at `index` in the list given to `init`.
    func script(_ index: Int) -> RedisScript {
        RedisScript(index: index, source: self.scripts[index])
    }

    /// Sends one command; an error reply is returned as `.error`, not thrown.
    func send(_ command: RedisCommand) -> EventLoopFuture<RESPValue> {
        self.connected().flatMap { $0.connection.send(command) }
    }

    func send(_ command: RedisCommand) async throws -> RESPValue {
        try await self.send(command).get()
    }

    /// Runs a loaded script. An error reply from the script is thrown as `replyError` (or `refused`).
    func evaluate(_ script: RedisScript, keys: [RedisArgument], arguments: [RedisArgument]) -> EventLoopFuture<RESPValue> {
        let tail = [RedisArgument(keys.count)] + keys + arguments
        if let connected = self.activeConnection() {
            return Self.evaluate(script, tail: tail, on: connected)
        }
        return self.connected().flatMap { Self.evaluate(script, tail: tail, on: $0) }
    }

    private static func evaluate(_ script: RedisScript, tail: [RedisArgument], on connected: Connected) -> EventLoopFuture<RESPValue> {
        let connection = connected.connection
        let promise = connection.channel.eventLoop.makePromise(of: RESPValue.self)
        connection.send(RedisCommand("EVALSHA", [RedisArgument(connected.digests[script.index])] + tail)).whenComplete { result in
            switch result {
            case .success(.error(let message)) where message.hasPrefix("NOSCRIPT"):
                // Redis lost its script cache (SCRIPT FLUSH, or a restart we have not noticed): EVAL reloads it.
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
    func shutdown() {
        let previous = self.state.withLockedValue { state in
            defer { state = .shutDown }
            return state
        }
        switch previous {
        case .connected(let connected): connected.connection.close()
        case .connecting(let future): future.whenSuccess { $0.connection.close() }
        case .idle, .shutDown: break
        }
    }

    // MARK: Connection state

    private enum Next {
        case use(Connected)
        case wait(EventLoopFuture<Connected>)
        case connect(EventLoopPromise<Connected>)
        case fail(RedisError)
    }

    /// The live connection, if there is one: the common case, without building a future.
    private func activeConnection() -> Connected? {
        self.state.withLockedValue { state in
            guard case .connected(let connected) = state, connected.connection.isActive else { return nil }
            return connected
        }
    }

    private func connected() -> EventLoopFuture<Connected> {
        let next: Next = self.state.withLockedValue { state in
            switch state {
            case .connected(let connected) where connected.connection.isActive:
                return .use(connected)
            case .connecting(let future):
                return .wait(future)
            case .idle(let retryAfter?) where retryAfter > .now():
                return .fail(.connectionFailed("Redis was unreachable moments ago; the next attempt comes shortly"))
            case .idle, .connected:
                let promise = self.eventLoopGroup.next().makePromise(of: Connected.self)
                state = .connecting(promise.futureResult)
                return .connect(promise)
            case .shutDown:
                return .fail(.shutdown)
            }
        }
        switch next {
        case .use(let connected):
            return connected.connection.channel.eventLoop.makeSucceededFuture(connected)
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

    private func startConnecting(_ promise: EventLoopPromise<Connected>) {
        RedisConnection.connect(to: self.configuration, scripts: self.scripts, on: promise.futureResult.eventLoop)
            .map { Connected(connection: $0.0, digests: $0.1) }
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
                        connected.connection.close()
                        promise.fail(RedisError.shutdown)
                        return
                    }
                    RedisMetrics.connects("success").increment()
                    self.logger.info("connected to Redis", metadata: ["redis.address": "\(self.configuration)"])
                    promise.succeed(connected)
                case .failure(let error):
                    RedisMetrics.connects("failure").increment()
                    self.logger.warning(
                        "cannot connect to Redis",
                        metadata: ["redis.address": "\(self.configuration)", "redis.error": "\(error)"]
                    )
                    promise.fail(error)
                }
            }
    }
}
