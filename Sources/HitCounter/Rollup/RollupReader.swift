import NIOConcurrencyHelpers

/// Reads a closed minute's roll-up events a page at a time, so no single Redis call grows with the
/// number of counters hit in the minute (a script over 125,000 keys once held Redis for 2 s).
///
/// A page is two round trips of small commands: the next keys of the minute's index, in byte order
/// after the last one read (`ZRANGE ... BYLEX LIMIT`), then each key's minute of hits and of ids
/// (`GETRANGE` of the minute's counter) and its callbacks. The minute is closed, so pages are stable: the same position always reads the same
/// page.
///
/// In a Redis Cluster, the index is kept per hash slot (`KeySchema.inCluster`): the minute's slots that
/// hold an index are found once (an `EXISTS` per slot, 1,024 slots a round trip), and a page reads them
/// in slot order, each in byte order. The last key read names its slot, so a position is still one
/// key.
struct RollupReader: Sendable {
    let client: RedisClient
    let pageSize: Int
    /// The slots with an index, of the last minute read in a cluster.
    private let slotsHit = NIOLockedValueBox<(minute: Int64, slots: [Int])?>(nil)

    init(client: RedisClient, pageSize: Int) {
        self.client = client
        self.pageSize = pageSize
    }

    /// One page of a minute: its events in key order, and whether the minute ends with it.
    struct Page: Sendable {
        let events: [RollupEvent]
        let isLast: Bool
        /// The last key of the page, where the next one starts.
        var last: [UInt8]? { self.events.last?.key.bytes }
    }

    func page(at cursor: RollupCursor, emittedBy name: String, keys: KeySchema) async throws -> Page {
        let minute = cursor.minute
        let counters = try await self.counters(at: cursor, keys: keys)
        guard !counters.isEmpty else { return Page(events: [], isLast: true) }

        let level = BucketLevel.minutes
        let sliceStart = level.sliceStart(minute)
        let first = level.slot(minute) * level.counterWidth
        var commands: [RedisCommand] = []
        commands.reserveCapacity(counters.count * 3)
        var routes: [[UInt8]] = []
        routes.reserveCapacity(counters.count * 3)
        for counter in counters {
            let counterKeys = keys.counter(counter)
            routes += [counterKeys.base, counterKeys.base, counterKeys.base]
            for series in CounterKeys.Series.allCases {
                commands.append(RedisCommand("GETRANGE", [
                    RedisArgument(bytes: counterKeys.bucket(series, level, sliceStart: sliceStart)), RedisArgument(first),
                    RedisArgument(first + level.counterWidth - 1),
                ]))
            }
            commands.append(RedisCommand("SMEMBERS", [RedisArgument(bytes: counterKeys.callbacks(minute: minute))]))
        }
        let replies = try await self.client.send(commands, routedBy: routes)
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

    /// The next counters of a minute's index, a page of them, in the order pages read them.
    func counters(at cursor: RollupCursor, keys: KeySchema) async throws -> [CounterKey] {
        try await keys.isClustered ? self.clusteredCounters(at: cursor, keys: keys) : self.counters(onOneRedisAt: cursor, keys: keys)
    }

    /// The next counters of the minute's index on one Redis.
    private func counters(onOneRedisAt cursor: RollupCursor, keys: KeySchema) async throws -> [CounterKey] {
        let listed = try await self.client.send(Self.range(keys.rollupIndex(minute: cursor.minute), after: cursor.after, limit: self.pageSize))
        return try Self.members(listed)
    }

    /// The next counters of the minute's indexes in a cluster: the rest of the slot of the last key
    /// read, then the next slots with an index, a batch of slots per round trip.
    private func clusteredCounters(at cursor: RollupCursor, keys: KeySchema) async throws -> [CounterKey] {
        let startSlot = cursor.after.map { HashSlot.of(keys.counter(CounterKey(bytes: $0)).base) } ?? 0
        var slots = try await self.slots(of: cursor.minute, keys: keys)[...].drop { $0 < startSlot }
        var counters: [CounterKey] = []
        while counters.count < self.pageSize, !slots.isEmpty {
            let batch = slots.prefix(Self.slotsPerTrip)
            slots = slots.dropFirst(batch.count)
            let indexes = batch.map { keys.rollupIndex(minute: cursor.minute, slot: $0) }
            let commands = zip(batch, indexes).map { slot, index in
                Self.range(index, after: slot == startSlot ? cursor.after : nil, limit: self.pageSize - counters.count)
            }
            for reply in try await self.client.send(commands, routedBy: indexes) {
                counters += try Self.members(reply).prefix(self.pageSize - counters.count)
            }
        }
        return counters
    }

    /// Slots whose indexes one round trip reads.
    static let slotsPerTrip = 64

    /// Slots asked per round trip when finding a minute's indexes. All 16,384 at once were most of the
    /// roll-up holder's peak heap (heaptrack: 8 MB of 10.5), which the allocator keeps as RSS.
    static let slotsPerSweepTrip = 1_024

    /// The slots that have an index for `minute`, in order: asked once per minute.
    private func slots(of minute: Int64, keys: KeySchema) async throws -> [Int] {
        if let known = self.slotsHit.withLockedValue({ $0 }), known.minute == minute { return known.slots }
        var slots: [Int] = []
        for batch in Array(0..<HashSlot.count).chunks(of: Self.slotsPerSweepTrip) {
            let indexes = batch.map { keys.rollupIndex(minute: minute, slot: $0) }
            let replies = try await self.client.send(indexes.map { RedisCommand("EXISTS", [RedisArgument(bytes: $0)]) }, routedBy: indexes)
            for (slot, reply) in zip(batch, replies) {
                if case .error(let message) = reply { throw RedisError.replyError(message) }
                if reply.int64 == 1 { slots.append(slot) }
            }
        }
        self.slotsHit.withLockedValue { $0 = (minute, slots) }
        return slots
    }

    private static func range(_ index: [UInt8], after: [UInt8]?, limit: Int) -> RedisCommand {
        let start: [UInt8] = after.map { [UInt8(ascii: "(")] + $0 } ?? [UInt8(ascii: "-")]
        return RedisCommand("ZRANGE", [RedisArgument(bytes: index), RedisArgument(bytes: start), "+", "BYLEX", "LIMIT", 0, RedisArgument(limit)])
    }

    private static func members(_ listed: RESPValue) throws -> [CounterKey] {
        guard case .array(let members) = listed else { throw RedisError.protocolError("ZRANGE of a roll-up index answered \(listed)") }
        return try members.map { member -> CounterKey in
            guard case .bulkString(let bytes) = member else { throw RedisError.protocolError("a roll-up index holds \(member)") }
            return CounterKey(bytes: bytes)
        }
    }

    /// A minute's counter, from its bucket's bytes (none: the minute counted nothing).
    private static func score(_ reply: RESPValue) throws -> Int64 {
        guard case .bulkString(let bytes) = reply else { throw RedisError.protocolError("GETRANGE answered \(reply)") }
        return BucketLevel.minutes.sum(bytes)
    }
}
