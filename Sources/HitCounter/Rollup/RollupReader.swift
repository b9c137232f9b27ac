/// Reads a closed minute's roll-up events a page at a time, so no single Redis call grows with the
/// number of counters hit in the minute (a script over 125,000 keys once held Redis for 2 s).
///
/// A page is two round trips of small commands: the next keys of the minute's index, in byte order
/// after the last one read (`ZRANGE ... BYLEX LIMIT`), then each key's minute of hits and of ids
/// (`GETRANGE` of the minute's counter) and its callbacks. The minute is closed, so pages are stable: the same position always reads the same
/// page.
struct RollupReader: Sendable {
    let client: RedisClient
    let keys: KeySchema
    let pageSize: Int

    /// One page of a minute: its events in key order, and whether the minute ends with it.
    struct Page: Sendable {
        let events: [RollupEvent]
        let isLast: Bool
        /// The last key of the page, where the next one starts.
        var last: [UInt8]? { self.events.last?.key.bytes }
    }

    func page(at cursor: RollupCursor, emittedBy name: String) async throws -> Page {
        let minute = cursor.minute
        let start: [UInt8] = cursor.after.map { [UInt8(ascii: "(")] + $0 } ?? [UInt8(ascii: "-")]
        let listed = try await self.client.send(RedisCommand("ZRANGE", [
            RedisArgument(bytes: self.keys.rollupIndex(minute: minute)), RedisArgument(bytes: start), "+", "BYLEX", "LIMIT", 0,
            RedisArgument(self.pageSize),
        ]))
        guard case .array(let members) = listed else { throw RedisError.protocolError("ZRANGE of a roll-up index answered \(listed)") }
        let counters = try members.map { member -> CounterKey in
            guard case .bulkString(let bytes) = member else { throw RedisError.protocolError("a roll-up index holds \(member)") }
            return CounterKey(bytes: bytes)
        }
        guard !counters.isEmpty else { return Page(events: [], isLast: true) }

        let level = BucketLevel.minutes
        let sliceStart = level.sliceStart(minute)
        let first = level.slot(minute) * level.counterWidth
        var commands: [RedisCommand] = []
        commands.reserveCapacity(counters.count * 3)
        for counter in counters {
            let counterKeys = self.keys.counter(counter)
            for series in CounterKeys.Series.allCases {
                commands.append(RedisCommand("GETRANGE", [
                    RedisArgument(bytes: counterKeys.bucket(series, level, sliceStart: sliceStart)), RedisArgument(first),
                    RedisArgument(first + level.counterWidth - 1),
                ]))
            }
            commands.append(RedisCommand("SMEMBERS", [RedisArgument(bytes: counterKeys.callbacks(minute: minute))]))
        }
        let replies = try await self.client.send(commands)
        var events: [RollupEvent] = []
        events.reserveCapacity(counters.count)
        for (index, counter) in counters.enumerated() {
            let hits = replies[3 * index], unique = replies[3 * index + 1], callbacks = replies[3 * index + 2]
            guard case .array(let named) = callbacks else { throw RedisError.protocolError("SMEMBERS answered \(callbacks)") }
            events.append(RollupEvent(
                key: counter, minute: minute, hits: try Self.score(hits), unique: try Self.score(unique), emittedBy: name,
                callbacks: named.compactMap(\.string).sorted()
            ))
        }
        return Page(events: events, isLast: counters.count < self.pageSize)
    }

    /// A minute's counter, from its bucket's bytes (none: the minute counted nothing).
    private static func score(_ reply: RESPValue) throws -> Int64 {
        guard case .bulkString(let bytes) = reply else { throw RedisError.protocolError("GETRANGE answered \(reply)") }
        return BucketLevel.minutes.sum(bytes)
    }
}
