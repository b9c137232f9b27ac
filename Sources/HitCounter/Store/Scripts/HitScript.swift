/// Counts a batch of hits on one counter in one atomic call (see docs/data-model.md and
/// docs/exactly-once.md).
///
/// The store names the keys of the minute it expects Redis to be in. The script reads Redis's `TIME`
/// and, if that is another minute, writes nothing and answers its time, so the store can try again
/// with the right keys. Everything is checked before the first write (the arguments, and the type of
/// every key it writes), so a refused call leaves nothing behind.
///
/// An id counts only if `SET <id key> NX EX <dedup period>` succeeds: the check and the count are one
/// atomic step. Counted ids add 1 each to the unique series. The minute's roll-up index lists the
/// counter, and the callbacks set records the callbacks its hits named.
struct HitScript: RedisScriptCall {
    /// What the call did: Redis's time, and whether each id of the batch counted (nil when the call was
    /// planned for another minute and wrote nothing).
    struct Reply: Sendable {
        let second: Int64
        let microseconds: Int64
        let counted: [Bool]?
    }

    let keys: [[UInt8]]
    let arguments: [RedisArgument]
    private let ids: Int

    /// - Parameters:
    ///   - minute: the minute the keys are for.
    ///   - second: the second to count at, for tests that drive time; Redis's clock when nil.
    init(
        keys schema: KeySchema, counter: CounterKey, minute: Int64, second: Int64?, count: Int, ids: [(id: HitID, count: Int)],
        callbacks: [String], maxRange: Int, dedupPeriod: Int
    ) {
        let counterKeys = schema.counter(counter)
        var keys: [[UInt8]] = []
        keys.reserveCapacity(8 + ids.count)
        let series: [CounterKeys.Series] = ids.isEmpty ? [.hits] : [.hits, .unique]
        for series in series {
            for level in BucketLevel.allCases {
                keys.append(counterKeys.bucket(series, level, sliceStart: level.sliceStart(minute)))
            }
        }
        keys.append(schema.rollupIndex(minute: minute))
        if !callbacks.isEmpty { keys.append(counterKeys.callbacks(minute: minute)) }
        keys += ids.map { counterKeys.id($0.id) }

        var arguments: [RedisArgument] = [
            second.map { RedisArgument($0) } ?? "", RedisArgument(minute), RedisArgument(count), RedisArgument(maxRange),
            RedisArgument(dedupPeriod), RedisArgument(bytes: counter.bytes), RedisArgument(ids.count), RedisArgument(callbacks.count),
        ]
        arguments += callbacks.map { RedisArgument($0) }
        arguments += ids.map { RedisArgument($0.count) }
        self.keys = keys
        self.arguments = arguments
        self.ids = ids.count
    }

    static func decode(_ reply: RESPValue) throws -> Reply {
        guard case .array(let values) = reply, values.count >= 3, let status = values[0].int64, let second = values[1].int64,
            let microseconds = values[2].int64
        else { throw Self.unexpected(reply) }
        guard status == 1 else { return Reply(second: second, microseconds: microseconds, counted: nil) }
        return Reply(second: second, microseconds: microseconds, counted: values.dropFirst(3).map { $0.int64 == 1 })
    }

    /// KEYS: the hit buckets of the minute (second, minute and hour level), then the unique buckets
    /// (when there are ids), the roll-up index, the callbacks set (when there are callbacks), one key
    /// per id. ARGV: the driven second or "", the minute the keys are for, the count of hits without
    /// an id, the max range, the dedup period, the counter's key (the index's member), the number of
    /// ids and of callbacks, the callbacks, the count of each id.
    ///
    /// Returns `{1, second, microseconds, counted flag of each id}`, or `{0, second, microseconds}`
    /// when Redis is in another minute than the keys.
    static let script = RedisScript(name: "hit", source: """
        #!lua
        local clock = redis.call('TIME')
        local now = tonumber(ARGV[1]) or tonumber(clock[1])
        if now - now % 60 ~= tonumber(ARGV[2]) then
          return {0, now, tonumber(clock[2])}
        end

        -- Everything checked before the first write.
        local count, maxRange, dedupPeriod = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
        local ids, callbacks = tonumber(ARGV[7]), tonumber(ARGV[8])
        if not (count and maxRange and dedupPeriod and ids and callbacks) then
          return redis.error_reply('ERR hit script: malformed arguments')
        end
        local levels = ids > 0 and 6 or 3
        local index = levels + 1
        local firstID = index + 1 + (callbacks > 0 and 1 or 0)
        local firstIDCount = 9 + callbacks
        if #KEYS ~= firstID + ids - 1 or #ARGV ~= firstIDCount + ids - 1 then
          return redis.error_reply('ERR hit script: keys and arguments do not match')
        end
        for i = firstIDCount, #ARGV do
          if not tonumber(ARGV[i]) then
            return redis.error_reply('ERR hit script: malformed id count')
          end
        end
        -- Each key written holds its own type or nothing (the key schema keeps names apart; this
        -- catches keys written by something else). An id key of another type just does not count.
        for i = 1, firstID - 1 do
          local kind = redis.call('TYPE', KEYS[i])['ok']
          if kind ~= 'none' and kind ~= (i == index + 1 and 'set' or 'zset') then
            return redis.error_reply('WRONGTYPE a key of this counter holds another type; nothing was written')
          end
        end

        local result = {1, now, tonumber(clock[2])}
        local unique = 0
        for i = 0, ids - 1 do
          if redis.call('SET', KEYS[firstID + i], '1', 'NX', 'EX', dedupPeriod) then
            count = count + tonumber(ARGV[firstIDCount + i])
            unique = unique + 1
            result[#result + 1] = 1
          else
            result[#result + 1] = 0
          end
        end
        if count == 0 then
          return result
        end

        local units, spans = {1, 60, 3600}, {60, 3600, 86400}
        -- Each bucket lives while a window of maxRange can still reach its slice's last second.
        local function add(first, amount)
          for level = 1, 3 do
            local unit, span = units[level], spans[level]
            redis.call('ZINCRBY', KEYS[first + level - 1], amount, string.format('%d', now - now % unit))
            redis.call('EXPIRE', KEYS[first + level - 1], now - now % span + span + maxRange - now)
          end
        end
        add(1, count)
        if unique > 0 then
          add(4, unique)
        end

        -- Kept for a day past the minute: a roll-up may run late, never later than that.
        local ttl = now - now % 60 + 60 + 86400 - now
        if redis.call('ZADD', KEYS[index], 'NX', 0, ARGV[6]) == 1 then
          redis.call('EXPIRE', KEYS[index], ttl)
        end
        if callbacks > 0 then
          if redis.call('SADD', KEYS[index + 1], unpack(ARGV, 9, firstIDCount - 1)) > 0 then
            redis.call('EXPIRE', KEYS[index + 1], ttl)
          end
        end
        return result
        """)
}
