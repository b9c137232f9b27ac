import Logging
import NIOConcurrencyHelpers
import NIOCore

/// The connection of one event loop: made when first needed, on that loop, and made again after it
/// drops. After a failed attempt, commands fail at once (`connectionFailed`) until `reconnectDelay`
/// has passed; then the next command tries again. No background task, no retry loop.
final class RedisConnectionSlot: Sendable {
    private enum State {
        case idle(retryAfter: NIODeadline?)
        case connecting(EventLoopFuture<RedisConnection>)
        case connected(RedisConnection)
        case shutDown
    }

    let eventLoop: any EventLoop
    private let configuration: RedisConfiguration
    private let backlog: RedisBacklog
    private let logger: Logger
    private let state = NIOLockedValueBox(State.idle(retryAfter: nil))

    init(configuration: RedisConfiguration, eventLoop: any EventLoop, backlog: RedisBacklog, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.backlog = backlog
        self.logger = logger
    }

    private enum Next {
        case use(RedisConnection)
        case wait(EventLoopFuture<RedisConnection>)
        case connect(EventLoopPromise<RedisConnection>)
        case fail(RedisError)
    }

    /// The live connection, if there is one: the common case, without building a future.
    func activeConnection() -> RedisConnection? {
        self.state.withLockedValue { state in
            guard case .connected(let connection) = state, connection.isActive else { return nil }
            return connection
        }
    }

    func connected() -> EventLoopFuture<RedisConnection> {
        let next: Next = self.state.withLockedValue { state in
            switch state {
            case .connected(let connection) where connection.isActive:
                return .use(connection)
            case .connecting(let future):
                return .wait(future)
            case .idle(let retryAfter?) where retryAfter > .now():
                return .fail(.connectionFailed("Redis was unreachable moments ago; the next attempt comes shortly"))
            case .idle, .connected:
                let promise = self.eventLoop.makePromise(of: RedisConnection.self)
                state = .connecting(promise.futureResult)
                return .connect(promise)
            case .shutDown:
                return .fail(.shutdown)
            }
        }
        switch next {
        case .use(let connection):
            return self.eventLoop.makeSucceededFuture(connection)
        case .wait(let future):
            return future
        case .fail(let error):
            return self.eventLoop.makeFailedFuture(error)
        case .connect(let promise):
            // Outside the lock: the attempt may complete inline.
            self.startConnecting(promise)
            return promise.futureResult
        }
    }

    /// Closes the connection; later commands fail with `shutdown`.
    func shutdown() {
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

    private func startConnecting(_ promise: EventLoopPromise<RedisConnection>) {
        RedisConnection.connect(to: self.configuration, on: self.eventLoop, backlog: self.backlog)
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
