import NIOCore
import NIOSSL
import NIOPosix

/// One socket to Redis, owned by SwiftNIO: never a blocking call on any thread.
///
/// Commands are pipelined; `RedisChannelHandler` matches the replies and group-commits the writes.
final class RedisConnection: Sendable {
    let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    var isActive: Bool { self.channel.isActive }

    /// Sends commands in one write; the future holds their replies in order. Error replies are values
    /// here, not failures: the caller decides what they mean.
    func send(_ commands: [RedisCommand]) -> EventLoopFuture<[RESPValue]> {
        // No commands, no replies: no reply would ever complete the promise.
        guard !commands.isEmpty else { return self.channel.eventLoop.makeSucceededFuture([]) }
        let promise = self.channel.eventLoop.makePromise(of: [RESPValue].self)
        self.write(RedisRequest(commands, promise: promise))
        return promise.futureResult
    }

    /// Sends one command.
    func send(_ command: RedisCommand) -> EventLoopFuture<RESPValue> {
        let promise = self.channel.eventLoop.makePromise(of: RESPValue.self)
        self.write(RedisRequest(command, promise: promise))
        return promise.futureResult
    }

    private func write(_ request: RedisRequest) {
        let written = self.channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { _ in
            // The channel closed before the handler saw the request.
            request.promise.fail(RedisError.connectionClosed)
        }
        self.channel.writeAndFlush(request, promise: written)
    }

    func close() {
        self.channel.close(promise: nil)
    }

    /// Connects (with TLS for `rediss://`, its files read now, off the event loop), then authenticates
    /// and selects the database, in one round trip.
    static func connect(to configuration: RedisConfiguration, on eventLoop: any EventLoop, backlog: RedisBacklog) -> EventLoopFuture<RedisConnection> {
        guard let tls = configuration.tls, case .tcp(let host, _) = configuration.address else {
            return Self.connect(to: configuration, tls: nil, on: eventLoop, backlog: backlog)
        }
        let diagnosis = TLSDiagnosis()
        return NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) { try tls.makeContext() }.flatMap { context in
            Self.connect(to: configuration, tls: (context, host, diagnosis), on: eventLoop, backlog: backlog)
        }.flatMapErrorThrowing { error in
            guard let reason = diagnosis.text else { throw error }
            let cause = (error as? RedisError)?.message ?? "\(error)"
            throw RedisError.connectionFailed("\(cause): \(reason)")
        }
    }

    private static func connect(
        to configuration: RedisConfiguration, tls: (context: NIOSSLContext, host: String, diagnosis: TLSDiagnosis)?, on eventLoop: any EventLoop,
        backlog: RedisBacklog
    ) -> EventLoopFuture<RedisConnection> {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(try RedisTLS.handler(tls.context, host: tls.host, diagnosis: tls.diagnosis)) }
                    try channel.pipeline.syncOperations.addHandler(
                        RedisChannelHandler(
                            commandTimeout: configuration.connectTimeout,
                            backlog: backlog
                        )
                    )
                }
            }
        let connected: EventLoopFuture<any Channel>
        switch configuration.address {
        case .tcp(let host, let port):
            // ClientBootstrap already sets TCP_NODELAY, which matters here: replies must not wait for Nagle.
            connected = bootstrap.connect(host: host, port: port)
        case .unixSocket(let path):
            connected = bootstrap.connect(unixDomainSocketPath: path)
        }
        return connected.flatMapError { error in
            eventLoop.makeFailedFuture(RedisError.connectionFailed("\(error)"))
        }.flatMap { channel in
            let connection = RedisConnection(channel: channel)
            let handshake = Self.handshake(configuration)
            return connection.send(handshake).flatMapThrowing { replies in
                for (command, reply) in zip(handshake, replies) {
                    if case .error(let message) = reply {
                        throw RedisError.handshakeFailed("\(command.name) failed: \(message)")
                    }
                }
                // The handshake ran under the connect timeout; commands from now on get the command timeout.
                try channel.pipeline.syncOperations.handler(type: RedisChannelHandler.self).commandTimeout =
                    configuration.commandTimeout
                return connection
            }.flatMapErrorThrowing { error in
                connection.close()
                // Nothing of a caller's was written yet: a connection lost in the handshake is a failed connect.
                if let lost = error as? RedisError, lost.kind == .connectionClosed || lost.kind == .timeout { throw RedisError.connectionFailed(lost.message) }
                throw error
            }
        }
    }

    private static func handshake(_ configuration: RedisConfiguration) -> [RedisCommand] {
        var commands: [RedisCommand] = []
        if let password = configuration.password {
            if let username = configuration.username {
                commands.append(RedisCommand("AUTH", [RedisArgument(username), RedisArgument(password)]))
            } else {
                commands.append(RedisCommand("AUTH", [RedisArgument(password)]))
            }
        }
        if configuration.database != 0 {
            commands.append(RedisCommand("SELECT", [RedisArgument(configuration.database)]))
        }
        // PING proves the server answers even when there is nothing else to send.
        commands.append(RedisCommand("PING"))
        return commands
    }
}
