#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import Synchronization

/// This replica's estimate of Redis's clock, so that a call can name the buckets of the second Redis
/// will run it in.
///
/// Redis's `TIME` stays the clock (docs/clock.md): the hit script reads it and refuses, without
/// writing, a call planned for another minute, answering its own time; a read carries `TIME` at the
/// head of its pipeline, and the store sums it only if it was planned for that second. Either way the
/// store then plans again. Every reply carries Redis's time, so the estimate follows Redis by itself: the
/// offset is Redis's time at the call minus this machine's time when the call was sent, which also
/// absorbs the usual delay to Redis.
final class RedisClock: Sendable {
    /// Microseconds to add to this machine's clock.
    private let offset: Atomic<Int64>

    /// - Parameter offset: the first guess, in microseconds (tests start it wrong on purpose).
    init(offset: Int64 = 0) {
        self.offset = Atomic(offset)
    }

    /// This machine's clock, in microseconds.
    static func localMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }

    /// The second Redis is expected to be in for a call sent now.
    func second() -> Int64 {
        (Self.localMicroseconds() + self.offset.load(ordering: .relaxed)).roundedDown(to: 1_000_000) / 1_000_000
    }

    /// Learns from a reply: Redis's `TIME` during a call sent at `sentAt` (this machine's microseconds).
    func observe(second: Int64, microseconds: Int64, sentAt: Int64) {
        self.offset.store(second * 1_000_000 + microseconds - sentAt, ordering: .relaxed)
    }

    /// Learns from the reply of a `TIME` command sent at `sentAt`, and answers its second.
    func observe(time reply: RESPValue, sentAt: Int64) throws -> Int64 {
        guard case .array(let time) = reply, time.count == 2, let second = time[0].int64, let microseconds = time[1].int64 else {
            throw RedisError.protocolError("TIME answered \(reply)")
        }
        self.observe(second: second, microseconds: microseconds, sentAt: sentAt)
        return second
    }
}

extension RedisClock {
    /// Sends `commands` behind a `TIME`, planned for `now`. When Redis's second is one `accepts` takes
    /// (by default, `now` itself) or `now` is driven by a test, `read` gets that second and the replies
    /// after `TIME`; otherwise the call is planned again for Redis's own second, as its `TIME` said it
    /// (`replan(second, attempt)`), at most `RedisHitStore.maxReplans` attempts in all. Planning again
    /// from the reply, not from the estimate, converges: the estimate runs ahead of Redis by the last
    /// call's delay, which under load changes from call to call, and three replans chasing it could all
    /// miss (a 503 while Redis answered). In a cluster, to the node of `key`, whose clock it is.
    func read<Result: Sendable>(
        _ commands: [RedisCommand], routedBy key: [UInt8]?, planned now: Int64, driven: Bool, attempt: Int, client: RedisClient, on eventLoop: any EventLoop,
        tracing parent: TraceParent?,
        accepts: @escaping @Sendable (Int64) -> Bool = { _ in false },
        replan: @escaping @Sendable (_ now: Int64, _ attempt: Int) -> EventLoopFuture<Result>,
        read: @escaping @Sendable (_ now: Int64, ArraySlice<RESPValue>) -> EventLoopFuture<Result>
    ) -> EventLoopFuture<Result> {
        let sentAt = Self.localMicroseconds()
        return client.send([RedisCommand.time] + commands, routedBy: key, on: eventLoop, tracing: parent).flatMap { replies in
            let second: Int64
            do {
                second = try self.observe(time: replies[0], sentAt: sentAt)
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
            if driven { return read(now, replies.dropFirst()) }
            guard second == now || accepts(second) else {
                guard attempt < RedisHitStore.maxReplans else { return eventLoop.makeFailedFuture(RedisError.clockMoved) }
                return replan(second, attempt + 1)
            }
            return read(second, replies.dropFirst())
        }
    }
}
