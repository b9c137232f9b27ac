import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One Redis server: a pipelined connection per event loop, each reconnected on demand. `RedisClient`
/// routes to one of these (the only one, or a cluster's primary of a slot).
///
/// - A command goes out on the connection of the event loop it is sent from (`RedisConnectionSlot`),
///   so a request served on a loop reaches Redis and gets its reply without changing threads.
/// - Commands share round trips (group commit, see `RedisChannelHandler`); the backlog of commands
///   waiting for replies is bounded per server.
/// - After a failed connection attempt, commands fail at once (`connectionFailed`) until
///   `reconnectDelay` has passed; then the next command tries again. No background task, no retry loop.
/// - Scripts run with EVALSHA; a NOSCRIPT reply (Redis restarted, flushed its script cache, or is a
///   cluster node that never saw the script) falls back to EVAL, which caches the script again.
///
/// Error replies are values here: the router decides what they mean (a redirect, a retry, a failure).
final class RedisNode: Sendable {
    let configuration: RedisConfiguration
    /// One per event loop of the group, in the group's order.
    private let slots: [RedisConnectionSlot]
    /// For callers on no loop of the group: their commands take the slots in turn.
    private let nextSlot = Atomic<Int>(0)

    init(configuration: RedisConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        let backlog = RedisBacklog(limit: configuration.maxPendingCommands)
        self.slots = eventLoopGroup.makeIterator().map {
            RedisConnectionSlot(configuration: configuration, eventLoop: $0, backlog: backlog, logger: logger)
        }
    }

    /// The slot of `eventLoop` when it is one of the node's; the first for a caller on no loop (a
    /// test, a tool: its calls then share one connection); else the next one in turn.
    private func slot(for eventLoop: (any EventLoop)?) -> RedisConnectionSlot {
        guard let eventLoop else { return self.slots[0] }
        for slot in self.slots where slot.eventLoop === eventLoop { return slot }
        return self.slots[self.nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue % self.slots.count]
    }

    /// The event loops the node has a connection on.
    var eventLoops: [any EventLoop] { self.slots.map(\.eventLoop) }

    /// The event loop of the caller's connection: the current one, or the first.
    var currentEventLoop: any EventLoop { self.slot(for: MultiThreadedEventLoopGroup.currentEventLoop).eventLoop }

    /// Sends commands in one write on `eventLoop`'s connection and returns their replies in order.
    func send(_ commands: [RedisCommand], on eventLoop: any EventLoop) -> EventLoopFuture<[RESPValue]> {
        let slot = self.slot(for: eventLoop)
        if let connection = slot.activeConnection() { return connection.send(commands) }
        return slot.connected().flatMap { $0.send(commands) }
    }

    /// Runs `script` with `before` and `after` in the same write (`ASKING` before, `WAIT` after), on
    /// `eventLoop`'s connection. Answers the replies of the script and of `after`; on NOSCRIPT, sends
    /// all of it again with EVAL.
    func evaluate(
        _ script: RedisScript, keys: [[UInt8]], arguments: [RedisArgument], before: [RedisCommand] = [], after: [RedisCommand] = [],
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<[RESPValue]> {
        var tail: [RedisArgument] = [RedisArgument(keys.count)]
        tail.reserveCapacity(keys.count + arguments.count + 1)
        for key in keys { tail.append(RedisArgument(bytes: key)) }
        tail += arguments
        let slot = self.slot(for: eventLoop)
        if let connection = slot.activeConnection() {
            return Self.evaluate(script, tail: tail, before: before, after: after, on: connection)
        }
        return slot.connected().flatMap { [tail] in Self.evaluate(script, tail: tail, before: before, after: after, on: $0) }
    }

    private static func evaluate(
        _ script: RedisScript, tail: [RedisArgument], before: [RedisCommand], after: [RedisCommand], on connection: RedisConnection
    ) -> EventLoopFuture<[RESPValue]> {
        let evalsha = before + [RedisCommand("EVALSHA", [RedisArgument(script.sha1)] + tail)] + after
        return connection.send(evalsha).flatMap { replies in
            guard case .error(let message) = replies[before.count], message.hasPrefix("NOSCRIPT") else {
                return connection.channel.eventLoop.makeSucceededFuture(Array(replies[before.count...]))
            }
            // This server does not have the script (yet): EVAL runs it and caches it.
            let eval = before + [RedisCommand("EVAL", [RedisArgument(script.source)] + tail)] + after
            return connection.send(eval).map { Array($0[before.count...]) }
        }
    }

    /// Runs several calls of `script` in one write on `eventLoop`'s connection, with `after` once at the
    /// end (one `WAIT` covers them all: it counts the replicas that have every write of the connection
    /// before it). Answers each call's reply, then `after`'s. Calls answered NOSCRIPT are sent again
    /// together after a `SCRIPT LOAD`, with `after` again, whose reply then stands.
    func evaluate(
        _ script: RedisScript, calls: [(keys: [[UInt8]], arguments: [RedisArgument])], after: [RedisCommand], on eventLoop: any EventLoop
    ) -> EventLoopFuture<[RESPValue]> {
        let commands = calls.map { call in
            var tail: [RedisArgument] = [RedisArgument(script.sha1), RedisArgument(call.keys.count)]
            tail.reserveCapacity(call.keys.count + call.arguments.count + 2)
            for key in call.keys { tail.append(RedisArgument(bytes: key)) }
            tail += call.arguments
            return RedisCommand("EVALSHA", tail)
        }
        let count = commands.count
        return self.send(commands + after, on: eventLoop).flatMap { replies in
            let missing = replies.prefix(count).indices.filter { index in
                if case .error(let message) = replies[index], message.hasPrefix("NOSCRIPT") { return true }
                return false
            }
            guard !missing.isEmpty else { return eventLoop.makeSucceededFuture(replies) }
            // This server does not have the script (yet): loaded, it runs them all as EVALSHA.
            let again = [RedisCommand("SCRIPT", ["LOAD", RedisArgument(script.source)])] + missing.map { commands[$0] } + after
            return self.send(again, on: eventLoop).map { second in
                var merged = replies
                for (position, index) in missing.enumerated() { merged[index] = second[1 + position] }
                merged.replaceSubrange(count..., with: second.suffix(after.count))
                return merged
            }
        }
    }

    /// Closes the connections; later commands fail with `shutdown`.
    func shutdown() {
        for slot in self.slots { slot.shutdown() }
    }
}
