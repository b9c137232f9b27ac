/// One call of a counter's reset (`DELETE /counters/{key}`): deletes some of its keys (buckets, unique
/// series, ids, callbacks) and takes it out of some top sets. See docs/web-counting.md#resetting.
///
/// The store finds the counter's keys with `SCAN` first. The first call deletes the buckets a hit could
/// be writing now, atomic against hits, and takes the counter out of the most recent top sets; later
/// calls delete the rest a thousand keys at a time and take it out of the other top sets a few
/// thousand at a time, so no call holds Redis long. A key made after the scan and not among those (a
/// new id, in the moment between the two) is left, which only means that id stays counted.
struct ResetScript: RedisScriptCall {
    let keys: [[UInt8]]
    let arguments: [RedisArgument]

    /// - Parameters:
    ///   - counterKeys: the keys to delete.
    ///   - topSets: the sets to take `key` out of.
    init(key: CounterKey, counterKeys: [[UInt8]], topSets: [[UInt8]]) {
        self.keys = counterKeys + topSets
        self.arguments = [RedisArgument(counterKeys.count), RedisArgument(bytes: key.bytes)]
    }

    /// How many keys it deleted.
    static func decode(_ reply: RESPValue) throws -> Int64 {
        guard let deleted = reply.int64 else { throw Self.unexpected(reply) }
        return deleted
    }

    /// KEYS: the keys to delete, then the top sets. ARGV: how many keys to delete, the counter's key
    /// (the top sets' member).
    static let script = RedisScript(name: "reset", source: """
        #!lua
        local n = tonumber(ARGV[1])
        local deleted = 0
        for i = 1, n do
          deleted = deleted + redis.call('UNLINK', KEYS[i])
        end
        for i = n + 1, #KEYS do
          redis.call('ZREM', KEYS[i], ARGV[2])
        end
        return deleted
        """)
}
