import NIOCore

/// Commands handed to one connection together, encoded back to back, with the promise their replies
/// fulfil: one reply, or all of them in order.
struct RedisRequest: Sendable {
    enum Promise: Sendable {
        case one(EventLoopPromise<RESPValue>)
        case all(EventLoopPromise<[RESPValue]>)

        func fail(_ error: any Error) {
            switch self {
            case .one(let promise): promise.fail(error)
            case .all(let promise): promise.fail(error)
            }
        }
    }

    let encoded: ByteBuffer
    let count: Int
    let promise: Promise

    init(_ command: RedisCommand, promise: EventLoopPromise<RESPValue>) {
        self.encoded = command.encoded
        self.count = 1
        self.promise = .one(promise)
    }

    init(_ commands: [RedisCommand], promise: EventLoopPromise<[RESPValue]>) {
        var encoded = commands.first?.encoded ?? ByteBuffer()
        for command in commands.dropFirst() { encoded.writeImmutableBuffer(command.encoded) }
        self.encoded = encoded
        self.count = commands.count
        self.promise = .all(promise)
    }
}

/// Matches replies to commands, in order, and group-commits writes.
///
/// Group commit: when nothing is in flight a flush goes out at once; while a batch is in flight, new
/// commands are buffered, and all of them go out in one write when the last reply of the batch arrives.
/// Under load, batches grow by themselves: many requests share one syscall and one Redis read.
///
/// Everything here runs on the channel's event loop, so it needs no lock.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Waiting {
        let promise: RedisRequest.Promise
        let deadline: NIODeadline
        /// Replies still to come, and those come so far (for a request of several commands).
        var remaining: Int
        var replies: [RESPValue] = []
    }

    private let reader = RESPReader()
    /// The connect timeout during the handshake, then the command timeout.
    var commandTimeout: TimeAmount
    /// The client's bound on requests waiting for replies, shared by all its connections.
    private let backlog: RedisBacklog
    /// Every request written and not yet answered, oldest first: the first `inFlight` were flushed.
    private var waiting = CircularBuffer<Waiting>()
    private var inFlight = 0
    /// Commands written since the last flush, for the batch-size metric.
    private var unflushedCommands = 0
    private var flushRequested = false
    private var timeoutCheck: Scheduled<Void>?
    private var closedError: RedisError?

    init(commandTimeout: TimeAmount, backlog: RedisBacklog) {
        self.commandTimeout = commandTimeout
        self.backlog = backlog
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = self.unwrapOutboundIn(data)
        if let closedError = self.closedError {
            request.promise.fail(closedError)
            promise?.fail(closedError)
            return
        }
        guard self.backlog.acquire(1) else {
            RedisMetrics.errors(.backlogFull).increment(by: request.count)
            request.promise.fail(RedisError.backlogFull)
            promise?.succeed()
            return
        }
        self.waiting.append(Waiting(promise: request.promise, deadline: NIODeadline.now() + self.commandTimeout, remaining: request.count))
        self.unflushedCommands += request.count
        context.write(self.wrapOutboundOut(request.encoded), promise: nil)
        promise?.succeed()
        self.scheduleTimeoutCheck(context: context)
    }

    func flush(context: ChannelHandlerContext) {
        if self.inFlight == 0 {
            self.flushNow(context: context)
        } else {
            self.flushRequested = true
        }
    }

    private func flushNow(context: ChannelHandlerContext) {
        self.flushRequested = false
        self.inFlight = self.waiting.count
        RedisMetrics.roundTrips.increment()
        RedisMetrics.batchSize.record(self.unflushedCommands)
        self.unflushedCommands = 0
        context.flush()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try self.reader.feed(self.unwrapInboundIn(data))
            while let reply = try self.reader.next() {
                guard !self.waiting.isEmpty else {
                    throw RedisError.protocolError("a reply arrived with no command waiting for it")
                }
                let index = self.waiting.startIndex
                self.waiting[index].remaining -= 1
                if case .all = self.waiting[index].promise {
                    self.waiting[index].replies.append(reply)
                    guard self.waiting[index].remaining == 0 else { continue }
                }
                // The request's room goes back before its promise completes: what the promise's
                // callbacks send (a read planned again, the next flight) may need it.
                let done = self.waiting.removeFirst()
                self.backlog.release(1)
                self.inFlight -= 1
                switch done.promise {
                case .one(let promise): promise.succeed(reply)
                case .all(let promise): promise.succeed(done.replies)
                }
                if self.inFlight == 0 && self.flushRequested {
                    self.flushNow(context: context)
                }
            }
        } catch {
            self.failAll(error as? RedisError ?? .protocolError("\(error)"), context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failAll(.connectionClosed, context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The commands waiting were written: their outcome is unknown (a cluster must not send them again).
        self.failAll(RedisError(.connectionClosed, "\(error)"), context: context)
    }

    // MARK: Timeouts

    /// One timer at a time, set for the oldest waiting command's deadline.
    private func scheduleTimeoutCheck(context: ChannelHandlerContext) {
        guard self.timeoutCheck == nil, let oldest = self.waiting.first else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.timeoutCheck = context.eventLoop.scheduleTask(deadline: oldest.deadline) {
            let (handler, context) = loopBound.value
            handler.timeoutCheck = nil
            guard let oldest = handler.waiting.first else { return }
            if oldest.deadline <= .now() {
                // Redis is stalled or gone: fail everything and drop the connection, whose replies
                // could no longer be matched. The client reconnects on the next command.
                handler.failAll(.timeout, context: context)
            } else {
                handler.scheduleTimeoutCheck(context: context)
            }
        }
    }

    private func failAll(_ error: RedisError, context: ChannelHandlerContext) {
        if self.closedError == nil { self.closedError = error }
        self.timeoutCheck?.cancel()
        self.timeoutCheck = nil
        let failed = self.waiting
        self.waiting.removeAll()
        self.backlog.release(failed.count)
        self.inFlight = 0
        self.flushRequested = false
        let commands = failed.reduce(0) { $0 + $1.remaining }
        if commands > 0 { RedisMetrics.errors(error.kind).increment(by: commands) }
        for entry in failed { entry.promise.fail(error) }
        context.close(promise: nil)
    }
}
