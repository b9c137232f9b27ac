import NIOCore

/// Commands handed to one connection, each with the promise its reply fulfils.
struct RedisRequest: Sendable {
    var commands: [RedisCommand]
    var promises: [EventLoopPromise<RESPValue>]
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
        let promise: EventLoopPromise<RESPValue>
        let deadline: NIODeadline
    }

    private let reader = RESPReader()
    /// The connect timeout during the handshake, then the command timeout.
    var commandTimeout: TimeAmount
    /// The client's bound on commands waiting for replies, shared by all its connections.
    private let backlog: RedisBacklog
    /// Every command written and not yet answered, oldest first: the first `inFlight` were flushed.
    private var waiting = CircularBuffer<Waiting>()
    private var inFlight = 0
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
            request.promises.forEach { $0.fail(closedError) }
            promise?.fail(closedError)
            return
        }
        guard self.backlog.acquire(request.commands.count) else {
            RedisMetrics.errors(.backlogFull).increment(by: request.commands.count)
            request.promises.forEach { $0.fail(RedisError.backlogFull) }
            promise?.succeed()
            return
        }
        let deadline = NIODeadline.now() + self.commandTimeout
        for (command, replyPromise) in zip(request.commands, request.promises) {
            self.waiting.append(Waiting(promise: replyPromise, deadline: deadline))
            context.write(self.wrapOutboundOut(command.encoded), promise: nil)
        }
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
        RedisMetrics.batchSize.record(self.inFlight)
        context.flush()
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try self.reader.feed(self.unwrapInboundIn(data))
            while let reply = try self.reader.next() {
                guard let head = self.waiting.popFirst() else {
                    throw RedisError.protocolError("a reply arrived with no command waiting for it")
                }
                self.backlog.release(1)
                self.inFlight -= 1
                head.promise.succeed(reply)
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
        self.failAll(.connectionFailed("\(error)"), context: context)
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
        if !failed.isEmpty { RedisMetrics.errors(error.kind).increment(by: failed.count) }
        for entry in failed { entry.promise.fail(error) }
        context.close(promise: nil)
    }
}
