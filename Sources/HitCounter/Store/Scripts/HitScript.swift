/// Counts the hits of one flight, on any number of counters, in one atomic call (see
/// docs/data-model.md, docs/fold.md and docs/exactly-once.md). One call per flight rather than per
/// counter: a script call costs Redis about 6.6 µs before it does anything (docs/performance.md).
///
/// The store names the keys of the minute it expects Redis to be in. The script reads Redis's `TIME`
/// and, if that is another minute, writes nothing and answers its time, so the store can try again
/// with the right keys. The arguments are all checked before the first write.
///
/// Per counter: an id counts only if `SET <id key> NX EX <dedup period>` succeeds (the check and the
/// count are one atomic step); the hits add to the second's unit (`BITFIELD ... INCRBY`), counted ids
/// add 1 each to the unique series' second. The minute and hour levels are not written here: the
/// roll-up folds them from the seconds once the minute has closed (`FoldScript`). The hits add to the
/// counter's score in the minute's top set (`GET /top`, docs/top-keys.md; the hour's is the fold's); the minute's
/// set answers whether they are the counter's first of the minute (else the minute's roll-up index
/// does), and then the counter joins that index, the types of its minute and hour buckets are checked
/// (the fold writes them), and its hour bucket is made if it is not there yet (`SET NX`, empty), so a
/// counter hit in a minute not folded yet is listed (`RedisKeyScan`). A second's bucket gets its expiry
/// with each new second, as before. If one of its writes fails
/// (a key of another type, written by something else), that counter's writes are undone and it answers
/// the error; the other counters of the call are not affected.
///
/// Every key is in `KEYS`. On one Redis a call holds a whole flight; in a Redis Cluster, the counters
/// of one hash slot, with that slot's roll-up index and top sets (`KeySchema.inCluster`): Redis runs
/// a script only when all the keys it declares share a slot.
struct HitScript: RedisScriptCall {
    /// One counter's hits in the flight.
    struct Counter: Sendable {
        let key: CounterKey
        let count: Int
        let ids: [(id: HitID, count: Int)]
        let callbacks: [String]
    }

    /// What the call did: Redis's time, and per counter whether each of its ids counted, or its error
    /// (nil when the call was planned for another minute and wrote nothing).
    struct Reply: Sendable {
        let second: Int64
        let microseconds: Int64
        let counted: [Result<[Bool], RedisError>]?
    }

    let keys: [[UInt8]]
    let arguments: [RedisArgument]

    /// - Parameters:
    ///   - minute: the minute the keys are for.
    ///   - second: the second to count at, for tests that drive time; Redis's clock when nil.
    ///   - topKeys: whether the hits add to the minute's top set (`--top-keys`).
    ///   - slot: in a cluster, the hash slot of every counter of the call.
    init(
        keys schema: KeySchema, counters: [Counter], minute: Int64, second: Int64?, maxRange: Int, dedupPeriod: Int, topKeys: Bool = true, slot: Int = 0
    ) {
        var keys: [[UInt8]] = [schema.rollupIndex(minute: minute, slot: slot), schema.topKeys(.minutes, unitStart: minute, slot: slot)]
        var arguments: [RedisArgument] = [
            second.map { RedisArgument($0) } ?? "", RedisArgument(minute), RedisArgument(maxRange), RedisArgument(dedupPeriod),
            RedisArgument(counters.count), RedisArgument(topKeys ? 1 : 0),
        ]
        keys.reserveCapacity(3 + 4 * counters.count)
        arguments.reserveCapacity(6 + 4 * counters.count)
        for counter in counters {
            let counterKeys = schema.counter(counter.key)
            // Every level's bucket: the minute's and the hour's are only checked (and the hour's made) here.
            for series in counter.ids.isEmpty ? [CounterKeys.Series.hits] : [.hits, .unique] {
                for level in BucketLevel.allCases {
                    keys.append(counterKeys.bucket(series, level, sliceStart: level.sliceStart(minute)))
                }
            }
            if !counter.callbacks.isEmpty { keys.append(counterKeys.callbacks(minute: minute)) }
            keys += counter.ids.map { counterKeys.id($0.id) }
            arguments += [
                RedisArgument(bytes: counter.key.bytes), RedisArgument(counter.count), RedisArgument(counter.ids.count),
                RedisArgument(counter.callbacks.count),
            ]
            arguments += counter.callbacks.map { RedisArgument($0) }
            arguments += counter.ids.map { RedisArgument($0.count) }
        }
        self.keys = keys
        self.arguments = arguments
    }

    static func decode(_ reply: RESPValue) throws -> Reply {
        guard case .array(let values) = reply, values.count >= 3, let status = values[0].int64, let second = values[1].int64,
            let microseconds = values[2].int64
        else { throw Self.unexpected(reply) }
        guard status == 1 else { return Reply(second: second, microseconds: microseconds, counted: nil) }
        let counted = try values.dropFirst(3).map { counter -> Result<[Bool], RedisError> in
            switch counter {
            case .array(let flags): return .success(flags.map { $0.int64 == 1 })
            case .error(let message): return .failure(RedisError.replyError(message))
            default: throw Self.unexpected(reply)
            }
        }
        return Reply(second: second, microseconds: microseconds, counted: counted)
    }

    /// KEYS: the minute's roll-up index, the minute's top set, then per counter its
    /// hit buckets of the minute (second, minute and hour level), its unique buckets (when it has ids),
    /// its callbacks set (when it has callbacks) and one key per id. ARGV: the driven second or
    /// "", the minute the keys are for, the max range, the dedup period, the number of counters, 1 to
    /// write the top sets (else 0), then per counter its key (the index's member), its count of hits
    /// without an id, its number of ids and of callbacks, the callbacks and the count of each id.
    ///
    /// Returns `{1, second, microseconds, then per counter the counted flag of each of its ids (or its
    /// error)}`, or `{0, second, microseconds}` when Redis is in another minute than the keys.
    static let script = RedisScript(name: "hit", source: """
        #!lua
        \(ScriptGeometry.declarations)
        local clock = redis.call('TIME')
        local now = tonumber(ARGV[1]) or tonumber(clock[1])
        if now - now % secondsSpan ~= tonumber(ARGV[2]) then
          return {0, now, tonumber(clock[2])}
        end

        -- Everything checked before the first write. Per counter c, firstKey[c] and firstArg[c] are where its
        -- keys and arguments start.
        local maxRange, dedupPeriod, n = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
        if not (maxRange and dedupPeriod and n) then
          return redis.error_reply('ERR hit script: malformed arguments')
        end
        local firstKey, firstArg = {}, {}
        local top = ARGV[6] == '1'
        local k, a = 3, 7
        for c = 1, n do
          local count, ids, callbacks = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
          if not (count and ids and callbacks) then
            return redis.error_reply('ERR hit script: malformed counter')
          end
          for i = a + 4 + callbacks, a + 3 + callbacks + ids do
            if not tonumber(ARGV[i]) then
              return redis.error_reply('ERR hit script: malformed id count')
            end
          end
          firstKey[c], firstArg[c] = k, a
          k = k + (ids > 0 and 6 or 3) + (callbacks > 0 and 1 or 0) + ids
          a = a + 4 + callbacks + ids
        end
        if #KEYS ~= k - 1 or #ARGV ~= a - 1 then
          return redis.error_reply('ERR hit script: keys and arguments do not match')
        end

        local slot = '#' .. now % secondsSpan / secondsUnit
        -- Alive while a window of maxRange can still reach the slice's last second. Relative to `now`, so
        -- buckets of a driven second (tests) live as long as live ones. Numbers given to redis.call are
        -- formatted each time (a printf), so those used per counter are made strings once.
        local minuteEnd = now - now % secondsSpan + secondsSpan
        local dayEnd = now - now % hoursSpan + hoursSpan
        local secondsLife, hoursLife = tostring(minuteEnd + maxRange - now), tostring(dayEnd + maxRange - now)
        -- Kept for a day past the minute, or the max range if longer: a roll-up may run late, never later
        -- than that (the claim script's horizon).
        local indexLife = minuteEnd + math.max(rollupHorizon, maxRange) - now

        -- What the counter being counted has written so far, for undoing it if a later write fails (a
        -- write fails only on a key of another type; redis.call raises, and the counter's pcall catches it).
        local added, addedCount, setIDs, setCount, joinedIndex, toppedMinute, madeHours = {}, 0, {}, 0, false, 0, false
        -- Adds `amount` to the second's unit of the bucket `key`; answers the unit before. What was
        -- really added is what an undo takes away: an add that would overflow writes nothing (FAIL) and is
        -- made again saturating, reading the unit first.
        local function add(key, amount)
          local after = redis.call('BITFIELD', key, 'OVERFLOW', 'FAIL', 'INCRBY', secondsType, slot, amount)[1]
          local before = after and after - amount
          if not after then
            local unit = redis.call('BITFIELD', key, 'GET', secondsType, slot, 'OVERFLOW', 'SAT', 'INCRBY', secondsType, slot, amount)
            before, after = unit[1], unit[2]
          end
          addedCount = addedCount + 1
          added[addedCount] = after - before
          return before
        end
        local noIDs = {}
        local function count(c)
          local k, a = firstKey[c], firstArg[c]
          local count, ids, callbacks = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
          local flags, unique, amount = noIDs, 0, count
          if ids > 0 then
            flags = {}
            local firstID = k + 6 + (callbacks > 0 and 1 or 0)
            for i = 0, ids - 1 do
              if redis.call('SET', KEYS[firstID + i], '1', 'NX', 'EX', ARGV[4]) then
                setCount = setCount + 1
                setIDs[setCount] = KEYS[firstID + i]
                amount = amount + tonumber(ARGV[a + 4 + callbacks + i])
                unique = unique + 1
                flags[i + 1] = 1
              else
                flags[i + 1] = 0
              end
            end
          end
          if amount == 0 then return flags end
          local amountText = tostring(amount)
          -- A second's first hits give its bucket an expiry (about 1,000 instructions): the bucket's own
          -- reply is the one signal a reset or a lost top set cannot make wrong.
          if add(KEYS[k], amountText) == 0 then redis.call('EXPIRE', KEYS[k], secondsLife) end
          if unique > 0 and add(KEYS[k + 3], unique) == 0 then redis.call('EXPIRE', KEYS[k + 3], secondsLife) end
          -- The counter's first hits of the minute? The minute's top set says so when it is kept, else the
          -- index, which it joins then either way.
          local new
          if top then
            new = tonumber(redis.call('ZINCRBY', KEYS[2], amountText, ARGV[a])) == amount
            toppedMinute = amount
            joinedIndex = new and redis.call('ZADD', KEYS[1], 'NX', '0', ARGV[a]) == 1
          else
            joinedIndex = redis.call('ZADD', KEYS[1], 'NX', '0', ARGV[a]) == 1
            new = joinedIndex
          end
          if new then
            -- The fold will write the minute's and the hour's buckets: a key of another type there fails the
            -- counter now (`STRLEN` fails on anything but a string), not the fold later.
            for i = 1, (ids > 0 and 5 or 2) do
              if i ~= 3 then redis.call('STRLEN', KEYS[k + i]) end
            end
            madeHours = redis.call('SET', KEYS[k + 2], '', 'NX', 'EX', hoursLife) ~= false
            if top then redis.call('EXPIRE', KEYS[2], secondsLife) end
          end
          if joinedIndex then redis.call('EXPIRE', KEYS[1], indexLife) end
          if callbacks > 0 then
            local set = KEYS[k + (ids > 0 and 6 or 3)]
            if redis.call('SADD', set, unpack(ARGV, a + 4, a + 3 + callbacks)) > 0 then
              redis.call('EXPIRE', set, indexLife)
            end
          end
          return flags
        end
        -- Nothing of a failed counter stays: its writes are undone, and a bucket that holds nothing but zeros
        -- again is removed.
        local function undo(c)
          local k, a = firstKey[c], firstArg[c]
          if madeHours then redis.call('DEL', KEYS[k + 2]) end
          if joinedIndex then redis.call('ZREM', KEYS[1], ARGV[a]) end
          if toppedMinute > 0 and tonumber(redis.call('ZINCRBY', KEYS[2], -toppedMinute, ARGV[a])) <= 0 then
            redis.call('ZREM', KEYS[2], ARGV[a])
          end
          for i = 1, addedCount do
            local key = KEYS[k + (i == 1 and 0 or 3)]
            redis.call('BITFIELD', key, 'INCRBY', secondsType, slot, -added[i])
            if redis.call('BITCOUNT', key) == 0 then redis.call('DEL', key) end
          end
          for i = 1, setCount do redis.call('DEL', setIDs[i]) end
        end

        local result = {1, now, tonumber(clock[2])}
        for c = 1, n do
          addedCount, setCount, joinedIndex, toppedMinute, madeHours = 0, 0, false, 0, false
          local ok, reply = pcall(count, c)
          if ok then
            result[c + 3] = reply
          else
            undo(c)
            result[c + 3] = type(reply) == 'table' and reply or redis.error_reply(tostring(reply))
          end
        end
        return result
        """)
}
