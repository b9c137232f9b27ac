import NIOCore
import NIOPosix

/// One request slot of a worker: a keep-alive connection to one target, reconnected when lost.
///
/// It holds at most one request at a time, from the moment it takes it (possibly while it still has
/// to connect) until the request is answered or has failed; then it offers itself to its worker again.
/// Everything happens on the worker's event loop.
final class Connection {
    private enum State {
        /// Free to take a request, connected or not (a request taken while disconnected connects first).
        case idle
        /// Connecting, for a request or, before the run starts, for none.
        case connecting(PendingRequest?)
        /// Request sent at `sent` (`NIODeadline.uptimeNanoseconds`), answer not yet complete.
        case waiting(PendingRequest, sent: UInt64)
        /// After a failed connect, a pause before the next attempt, so a dead target is not hammered.
        case backoff
        case shutDown
    }

    /// The pause between a failed connect and the next request on this connection.
    static let reconnectDelay = TimeAmount.milliseconds(10)

    /// Index of the target in `LoadOptions.targets`.
    let target: Int
    private unowned let worker: Worker
    private let address: LoadTarget
    private let templates: RequestTemplates
    private let timeout: TimeAmount
    private var random: SplitMix64

    private var state = State.idle
    /// The current channel's handler; nil while disconnected.
    private var handler: ConnectionHandler?
    /// Bumped each time a channel is opened or given up, so events from an old channel are ignored.
    private var generation = 0
    private var parser = HTTPResponseParser()
    /// Bytes of an answer that arrived in pieces.
    private var received: ByteBuffer?
    /// The request being written; reused, so writing one allocates nothing once the socket has taken it.
    private var outbound = ByteBuffer()

    init(worker: Worker, target: Int, address: LoadTarget, templates: RequestTemplates, timeout: TimeAmount, seed: UInt64) {
        self.worker = worker
        self.target = target
        self.address = address
        self.templates = templates
        self.timeout = timeout
        self.random = SplitMix64(seed: seed)
    }

    /// Free to take a request.
    var isIdle: Bool {
        if case .idle = self.state { return true }
        return false
    }

    // MARK: - From the worker

    /// Connects ahead of the run; a failure is not a request, so nothing is counted.
    func warmUp() -> EventLoopFuture<Void> {
        guard case .idle = self.state, self.handler == nil else { return self.worker.eventLoop.makeSucceededVoidFuture() }
        self.state = .connecting(nil)
        return self.connect()
    }

    /// Takes `request`: sends it now, or connects first.
    func send(_ request: PendingRequest, now: UInt64) {
        guard case .idle = self.state else { preconditionFailure("a connection takes one request at a time") }
        if let handler = self.handler {
            self.write(request, to: handler, now: now)
        } else {
            self.state = .connecting(request)
            _ = self.connect()
        }
    }

    /// Fails the request in flight with `timeout` if its answer is overdue.
    func checkTimeout(now: UInt64) {
        guard case .waiting(_, let sent) = self.state, now >= sent, now - sent >= UInt64(self.timeout.nanoseconds) else { return }
        self.fail(.timeout)
    }

    /// Gives up the request this connection holds, if any, as `cancelled`.
    func cancel() {
        switch self.state {
        case .waiting(let request, _), .connecting(let request?):
            self.state = .idle
            self.disconnect()
            self.worker.failed(request, kind: .cancelled, on: self, now: NIODeadline.now().uptimeNanoseconds)
        default:
            break
        }
    }

    func shutDown() {
        self.state = .shutDown
        self.disconnect()
    }

    // MARK: - From the channel

    func received(_ bytes: ByteBuffer, generation: Int) {
        guard generation == self.generation else { return }
        var buffer = bytes
        if var received = self.received {
            received.writeBuffer(&buffer)
            buffer = received
            self.received = nil
        }
        let response: HTTPResponseParser.Response?
        do {
            response = try self.parser.parse(&buffer)
        } catch {
            self.fail(.protocol)
            return
        }
        guard let response else {
            if buffer.readableBytes > 0 { self.received = buffer }
            return
        }
        guard case .waiting(let request, _) = self.state else {
            // An answer nobody asked for: the stream cannot be trusted any more.
            self.disconnect()
            return
        }
        self.state = .idle
        // Bytes after the answer would be mistaken for the next one: start afresh instead.
        if !response.keepAlive || buffer.readableBytes > 0 { self.disconnect() }
        self.worker.answered(request, response: response, on: self, now: NIODeadline.now().uptimeNanoseconds)
    }

    func closed(generation: Int) {
        // While connecting, the connect result alone settles the request.
        guard generation == self.generation, !self.isConnecting else { return }
        let response = self.parser.endOfInput()
        self.disconnect()
        guard case .waiting(let request, _) = self.state else { return }
        self.state = .idle
        let now = NIODeadline.now().uptimeNanoseconds
        if let response {
            self.worker.answered(request, response: response, on: self, now: now)
        } else {
            self.worker.failed(request, kind: .reset, on: self, now: now)
        }
    }

    func failed(_ kind: FailureKind, generation: Int) {
        guard generation == self.generation, !self.isConnecting else { return }
        self.fail(kind)
    }

    // MARK: - Inside

    private var isConnecting: Bool {
        if case .connecting = self.state { return true }
        return false
    }

    private func write(_ request: PendingRequest, to handler: ConnectionHandler, now: UInt64) {
        self.outbound.clear()
        self.templates.write(entry: request.entry, key: request.key, random: &self.random, into: &self.outbound)
        self.state = .waiting(request, sent: now)
        handler.write(self.outbound)
    }

    /// Ends the request in flight with `kind` and drops the channel.
    private func fail(_ kind: FailureKind) {
        self.disconnect()
        guard case .waiting(let request, _) = self.state else { return }
        self.state = .idle
        self.worker.failed(request, kind: kind, on: self, now: NIODeadline.now().uptimeNanoseconds)
    }

    /// Closes the channel, if any, and forgets it; its later events are ignored.
    private func disconnect() {
        self.generation += 1
        self.handler?.close()
        self.handler = nil
        self.parser = HTTPResponseParser()
        self.received = nil
    }

    private func connect() -> EventLoopFuture<Void> {
        self.generation += 1
        let generation = self.generation
        let eventLoop = self.worker.eventLoop
        let handler = NIOLoopBound(ConnectionHandler(connection: self, generation: generation), eventLoop: eventLoop)
        let done = eventLoop.makePromise(of: Void.self)
        ClientBootstrap(group: eventLoop)
            .connectTimeout(self.timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler.value) }
            }
            .connect(host: self.address.host, port: self.address.port)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success: self.connected(handler.value, generation: generation)
                case .failure: self.connectFailed(generation: generation)
                }
                done.succeed()
            }
        return done.futureResult
    }

    private func connected(_ handler: ConnectionHandler, generation: Int) {
        guard generation == self.generation, case .connecting(let request) = self.state else {
            // Given up on (cancelled, or the run is over) while connecting.
            handler.close()
            return
        }
        self.handler = handler
        if let request {
            self.write(request, to: handler, now: NIODeadline.now().uptimeNanoseconds)
        } else {
            self.state = .idle
        }
    }

    private func connectFailed(generation: Int) {
        guard generation == self.generation, case .connecting(let request) = self.state else { return }
        guard let request else {
            self.state = .idle
            return
        }
        self.state = .backoff
        self.worker.eventLoop.assumeIsolated().scheduleTask(in: Self.reconnectDelay) {
            guard case .backoff = self.state else { return }
            self.state = .idle
            self.worker.offer(self, now: NIODeadline.now().uptimeNanoseconds)
        }
        self.worker.failed(request, kind: .connect, on: self, now: NIODeadline.now().uptimeNanoseconds)
    }
}
