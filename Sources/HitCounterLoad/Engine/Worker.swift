import NIOCore
import NIOPosix

/// One event loop's part of a run: its connections, its schedule, and its counts.
///
/// Every method runs on `eventLoop`, so the hot path (an answer arrives, it is counted, the next request
/// goes out) takes no lock and awaits nothing. Workers never talk to each other; `LoadRun` merges their
/// `WorkerStats` at the end.
///
/// Closed loop: a connection that becomes free takes the next request at once, intended for now.
/// Open loop: requests are issued at fixed intended times into a queue, from which free connections take
/// them in order; a request that waits for a connection still counts its latency from its intended time.
///
/// Accounting: a request is counted once issued and ends exactly once, answered or failed. When the
/// schedule stops (duration or budget), the worker waits up to `--timeout` (plus a margin) for what is
/// queued or in flight; whatever is left then ends as `cancelled`. So requests = successes + errors.
final class Worker {
    private enum Phase {
        case ready
        case issuing
        case draining
        case finished
    }

    /// How long after the schedule stops the worker still waits, beyond `--timeout`, before cancelling.
    static let drainMargin = TimeAmount.milliseconds(250)
    /// Open loop: the tick never comes sooner than this after the previous one; requests due in between
    /// are issued together, each with its own intended time.
    static let minimumTick = TimeAmount.microseconds(100)

    let eventLoop: any EventLoop
    private let plan: WorkerPlan
    private let mix: RequestMix
    private var connections: [Connection] = []
    private var random: SplitMix64
    /// `--sequential-keys`: the next key number this worker uses (workers interleave).
    private var nextKey: UInt64

    private var phase = Phase.ready
    private var stats: WorkerStats
    private var issued = 0
    /// Issued and not yet finished: queued, connecting or in flight.
    private var outstanding = 0
    private var startNanoseconds: UInt64 = 0
    private var stopNanoseconds: UInt64 = 0
    private var promise: EventLoopPromise<WorkerStats>?
    private var stopTimer: Scheduled<Void>?
    private var drainTimer: Scheduled<Void>?
    private var sweepTimer: Scheduled<Void>?

    // Open loop only.
    private var queue = CircularBuffer<UInt64>(initialCapacity: 1024)
    /// Free connections, oldest first: requests rotate over connections (and so over targets).
    private var free = CircularBuffer<Connection>()
    private var nanosecondsPerRequest = 0.0
    private var nextIntended: UInt64 = 0
    private var tick: NIOScheduledCallback?

    init(plan: WorkerPlan, eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.plan = plan
        self.mix = plan.options.mix
        self.random = SplitMix64(seed: plan.seed)
        self.nextKey = UInt64(plan.index)
        self.stats = WorkerStats(operations: plan.options.mix.entries.count)
        let options = plan.options
        let templates = options.targets.map {
            RequestTemplates(target: $0, mix: options.mix, keys: options.keys, ranges: options.ranges, count: options.count, ids: options.ids)
        }
        self.connections = plan.connectionTargets.map { target in
            Connection(
                worker: self, target: target, address: options.targets[target], templates: templates[target],
                timeout: options.timeout, seed: self.random.next()
            )
        }
    }

    /// The next request of the schedule: its mix entry, and its key when keys go in order.
    private func request(intended: UInt64) -> PendingRequest {
        var key: UInt64?
        if self.plan.options.sequentialKeys {
            key = self.nextKey
            self.nextKey += UInt64(self.plan.options.threads)
        }
        return PendingRequest(intended: intended, entry: self.mix.pick(self.random.next()), key: key)
    }

    // MARK: - From LoadRun

    /// Connects every connection before the clock starts; failures are retried once the run needs them.
    func warmUp() -> EventLoopFuture<Void> {
        EventLoopFuture.andAllComplete(self.connections.map { $0.warmUp() }, on: self.eventLoop)
    }

    /// Runs this worker's share; the future completes with its counts once every request has ended.
    func run() -> EventLoopFuture<WorkerStats> {
        precondition(self.phase == .ready, "a worker runs once")
        let promise = self.eventLoop.makePromise(of: WorkerStats.self)
        self.promise = promise
        let now = NIODeadline.now()
        self.phase = .issuing
        self.startNanoseconds = now.uptimeNanoseconds
        self.stats.startNanoseconds = now.uptimeNanoseconds
        self.stopNanoseconds = (now + self.plan.options.duration).uptimeNanoseconds
        let loop = self.eventLoop.assumeIsolated()
        self.stopTimer = loop.scheduleTask(deadline: now + self.plan.options.duration) { self.stopIssuing() }
        self.scheduleSweep()
        if self.plan.budget == 0 {
            self.stopIssuing()
        } else if let rate = self.plan.rate {
            self.nanosecondsPerRequest = 1e9 / rate
            self.nextIntended = self.startNanoseconds
            self.free = CircularBuffer(self.connections)
            self.issueDue()
        } else {
            for connection in self.connections where self.phase == .issuing {
                self.offer(connection, now: self.startNanoseconds)
            }
        }
        return promise.futureResult
    }

    /// Requests finished so far, and how many of them failed.
    var progress: LoadProgress.Counts {
        LoadProgress.Counts(requests: self.stats.requests, errors: self.stats.errors)
    }

    // MARK: - From connections

    /// `connection` is free: give it a request, or keep it for the next one.
    func offer(_ connection: Connection, now: UInt64) {
        switch self.phase {
        case .ready, .finished:
            return
        case .issuing where self.plan.rate == nil:
            guard now < self.stopNanoseconds else {
                self.stopIssuing()
                return
            }
            self.issued += 1
            self.outstanding += 1
            if self.issued == self.plan.budget { self.stopIssuing() }
            connection.send(self.request(intended: now), now: now)
        case .issuing, .draining:
            if self.plan.rate != nil, let intended = self.queue.popFirst() {
                connection.send(self.request(intended: intended), now: now)
            } else if self.plan.rate != nil {
                self.free.append(connection)
            }
        }
    }

    func answered(_ request: PendingRequest, response: HTTPResponseParser.Response, on connection: Connection, now: UInt64) {
        self.stats.recordAnswer(
            operation: request.entry, status: response.status, servedBy: response.servedBy, target: connection.target,
            latencyNanoseconds: now &- request.intended
        )
        self.finishOne(freeing: connection, now: now)
    }

    func failed(_ request: PendingRequest, kind: FailureKind, on connection: Connection, now: UInt64) {
        self.stats.recordFailure(operation: request.entry, kind: kind)
        self.finishOne(freeing: connection, now: now)
    }

    // MARK: - Inside

    private func finishOne(freeing connection: Connection, now: UInt64) {
        self.outstanding -= 1
        if self.phase == .draining && self.outstanding == 0 {
            self.finish()
        } else if connection.isIdle {
            self.offer(connection, now: now)
        }
    }

    /// Open loop: queues every request whose intended time has come, hands them to free connections,
    /// and sets the next tick.
    private func issueDue() {
        guard self.phase == .issuing else { return }
        let now = NIODeadline.now().uptimeNanoseconds
        while self.nextIntended <= now {
            self.queue.append(self.nextIntended)
            self.issued += 1
            self.outstanding += 1
            self.nextIntended = self.startNanoseconds + UInt64(Double(self.issued) * self.nanosecondsPerRequest)
            if self.issued == self.plan.budget || self.nextIntended >= self.stopNanoseconds {
                break
            }
        }
        while !self.queue.isEmpty, let connection = self.free.popFirst() {
            connection.send(self.request(intended: self.queue.removeFirst()), now: now)
        }
        if self.issued == self.plan.budget || self.nextIntended >= self.stopNanoseconds {
            self.stopIssuing()
            return
        }
        let next = max(self.nextIntended, now + UInt64(Self.minimumTick.nanoseconds))
        self.tick = try? self.eventLoop.assumeIsolated().scheduleCallback(
            at: NIODeadline.uptimeNanoseconds(next),
            handler: Tick(worker: self)
        )
    }

    /// The schedule is over: wait for what was issued, up to the drain limit.
    private func stopIssuing() {
        guard self.phase == .issuing else { return }
        self.phase = .draining
        self.stopTimer?.cancel()
        if let tick = self.tick { self.eventLoop.assumeIsolated().cancelScheduledCallback(tick) }
        guard self.outstanding > 0 else {
            self.finish()
            return
        }
        self.drainTimer = self.eventLoop.assumeIsolated().scheduleTask(in: self.plan.options.timeout + Self.drainMargin) {
            self.cancelOutstanding()
        }
    }

    /// The drain limit has passed: whatever is still queued or in flight ends as `cancelled`.
    private func cancelOutstanding() {
        guard self.phase == .draining else { return }
        while self.queue.popFirst() != nil {
            self.stats.recordFailure(operation: nil, kind: .cancelled)
            self.outstanding -= 1
        }
        for connection in self.connections where self.phase == .draining {
            connection.cancel()
        }
        self.finish()
    }

    private func finish() {
        guard self.phase != .finished else { return }
        self.phase = .finished
        self.stats.endNanoseconds = NIODeadline.now().uptimeNanoseconds
        self.stopTimer?.cancel()
        self.drainTimer?.cancel()
        self.sweepTimer?.cancel()
        for connection in self.connections { connection.shutDown() }
        self.free.removeAll(keepingCapacity: false)
        precondition(self.outstanding == 0 && self.stats.requests == self.issued, "every issued request ends exactly once")
        self.promise?.succeed(self.stats)
    }

    /// Checks for overdue answers a few times per timeout, rather than arming a timer per request.
    private func scheduleSweep() {
        let tenth = TimeAmount.nanoseconds(self.plan.options.timeout.nanoseconds / 10)
        let interval = min(max(tenth, .milliseconds(10)), .milliseconds(100))
        self.sweepTimer = self.eventLoop.assumeIsolated().scheduleTask(in: interval) {
            guard self.phase == .issuing || self.phase == .draining else { return }
            let now = NIODeadline.now().uptimeNanoseconds
            for connection in self.connections { connection.checkTimeout(now: now) }
            self.scheduleSweep()
        }
    }

    private struct Tick: NIOScheduledCallbackHandler {
        let worker: Worker

        func handleScheduledCallback(eventLoop: some EventLoop) {
            self.worker.issueDue()
        }
    }
}
