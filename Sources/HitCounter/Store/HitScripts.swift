/// The Lua scripts behind `RedisHitStore`: each operation is one EVALSHA, atomic in Redis.
///
/// Layout (see docs/data-model.md): a counter's hits live at three levels, seconds, minutes and hours.
/// Each level is split into bucket keys `<base>:<unit>:<sliceStart>`, a sorted set whose members are
/// the start of each unit (epoch seconds) and whose scores are the hits in it:
///
///     unit 1 s    one key per minute (<= 60 members)
///     unit 60 s   one key per hour   (<= 60 members)
///     unit 3600 s one key per day    (<= 24 members)
///
/// Every key expires by itself once the newest second in it has left the longest window. Small keys
/// stay in Redis's compact listpack encoding.
enum HitScripts {
    static let levels = """
        local units = {1, 60, 3600}
        local spans = {60, 3600, 86400}
        """

    /// KEYS[1] the counter's base key. ARGV: the count of hits without an id, the max range, the second
    /// of the hits or "" for Redis's clock, the dedup period, the roll-up prefix, the counter key, the
    /// number of callbacks and the callbacks, then pairs of (id, count). Returns `{second, counted flag
    /// of each id}`.
    ///
    /// An id counts only if `SET <base>:id:<id> NX EX <dedup period>` succeeds: the check and the count
    /// are one atomic step. Counted ids also add 1 each to the `<base>:u` series, which `unique` reads
    /// sum like hits. A minute that counted anything lists the key in `<rollup prefix>:active:<minute>`
    /// and records the callback in `<base>:cb:<minute>`, for the roll-up (see docs/exactly-once.md).
    static let hit = levels + """

        local base = KEYS[1]
        local count = tonumber(ARGV[1])
        local maxRange = tonumber(ARGV[2])
        local now = tonumber(ARGV[3])
        local dedupPeriod = ARGV[4]
        local rollupPrefix, key = ARGV[5], ARGV[6]
        local firstID = 8 + tonumber(ARGV[7])
        if not now then
          now = tonumber(redis.call('TIME')[1])
        end
        local result = {now}
        local unique = 0
        for i = firstID, #ARGV, 2 do
          if redis.call('SET', base .. ':id:' .. ARGV[i], '1', 'NX', 'EX', dedupPeriod) then
            count = count + tonumber(ARGV[i + 1])
            unique = unique + 1
            result[#result + 1] = 1
          else
            result[#result + 1] = 0
          end
        end
        if count == 0 then
          return result
        end

        local function add(series, amount)
          for level = 1, 3 do
            local unit, span = units[level], spans[level]
            local sliceStart = now - now % span
            local bucket = series .. ':' .. unit .. ':' .. string.format('%d', sliceStart)
            redis.call('ZINCRBY', bucket, amount, string.format('%d', now - now % unit))
            -- Alive while a window of maxRange can still reach the slice's last second.
            redis.call('EXPIRE', bucket, sliceStart + span + maxRange - now)
          end
        end
        add(base, count)
        if unique > 0 then
          add(base .. ':u', unique)
        end

        -- Kept for a day past the minute: a roll-up may run late, never later than that.
        local minute = string.format('%d', now - now % 60)
        local ttl = now - now % 60 + 60 + 86400 - now
        local active = rollupPrefix .. ':active:' .. minute
        -- The first member added creates the set: only then does it need its expiry.
        if redis.call('SADD', active, key) == 1 then
          redis.call('EXPIRE', active, ttl)
        end
        if firstID > 8 then
          local callbacks = base .. ':cb:' .. minute
          if redis.call('SADD', callbacks, unpack(ARGV, 8, firstID - 1)) > 0 then
            redis.call('EXPIRE', callbacks, ttl)
          end
        end
        return result
        """

    /// KEYS[1] the counter's base key; ARGV: range, and the current second or "" for Redis's clock.
    /// Returns the hits in the seconds t with now - range < t <= now.
    ///
    /// The window [now - range + 1, now + 1) is cut at minute and hour boundaries: whole hours come
    /// from the hour level, whole minutes at the ragged edges from the minute level, and the seconds
    /// left over from the second level. A full day costs at most 24 + 2 * 59 + 2 * 59 members in at
    /// most 7 ZMSCORE calls, whatever the traffic.
    static let hits = levels + """

        local base = KEYS[1]
        local range = tonumber(ARGV[1])
        local now = tonumber(ARGV[2])
        if not now then
          now = tonumber(redis.call('TIME')[1])
        end
        local total = 0

        -- Sums level `level` over [from, to), both multiples of its unit, one ZMSCORE per bucket key.
        local function sumLevel(level, from, to)
          local unit, span = units[level], spans[level]
          local t = from
          while t < to do
            local sliceStart = t - t % span
            local sliceEnd = math.min(sliceStart + span, to)
            local members = {}
            for m = t, sliceEnd - unit, unit do
              members[#members + 1] = string.format('%d', m)
            end
            local bucket = base .. ':' .. unit .. ':' .. string.format('%d', sliceStart)
            local scores = redis.call('ZMSCORE', bucket, unpack(members))
            for i = 1, #members do
              if scores[i] then total = total + tonumber(scores[i]) end
            end
            t = sliceEnd
          end
        end

        -- Sums [from, to): the aligned middle from the next level up, the edges from this one.
        local function sumRange(level, from, to)
          local coarser = units[level + 1]
          if coarser then
            local first = from + (-from) % coarser
            local last = to - to % coarser
            if first < last then
              sumLevel(level, from, first)
              sumLevel(level, last, to)
              sumRange(level + 1, first, last)
              return
            end
          end
          sumLevel(level, from, to)
        end

        sumRange(1, now - range + 1, now + 1)
        return total
        """
}
