/// The Lua scripts of the per-minute roll-up: one lock for the fleet, one cursor per sink, both in
/// Redis. Each is one atomic EVALSHA; the writes check the lock's owner first (see docs/exactly-once.md).
///
/// Keys, under `<prefix>:rollup`: `lock` (the owner's token, with an expiry), `next:<sink>` (the
/// next minute the sink is owed), `active:<minute>` (the counters hit in the minute, written by the hit
/// script).
enum RollupScripts {
    static let claim = 2
    static let read = 3
    static let advance = 4
    static let release = 5

    static var all: [String] { [Self.claimScript, Self.readScript, Self.advanceScript, Self.releaseScript] }

    /// KEYS[1] the lock, KEYS[2...] the cursors of the sinks. ARGV: the owner's token, the lease in
    /// milliseconds, and the current second or "" for Redis's clock.
    ///
    /// Takes the lock if it is free, or extends it if this owner holds it. Returns `{0, now}` when
    /// another owner holds it, else `{1, now, next minute of each sink}`. A new cursor starts at the
    /// minute before the current one; a cursor never lags more than a day, as long as the active sets
    /// live.
    static let claimScript = """
        local now = tonumber(ARGV[3])
        if not now then
          now = tonumber(redis.call('TIME')[1])
        end
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
        elseif not holder then
          redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        else
          return {0, now}
        end
        local minute = now - now % 60
        local result = {1, now}
        for i = 2, #KEYS do
          local next = tonumber(redis.call('GET', KEYS[i]))
          if not next then
            next = minute - 60
            redis.call('SET', KEYS[i], string.format('%d', next))
          elseif next < minute - 86400 then
            next = minute - 86400
            redis.call('SET', KEYS[i], string.format('%d', next))
          end
          result[#result + 1] = next
        end
        return result
        """

    /// ARGV: the key prefix and a minute (epoch seconds). Returns, for each counter hit in that minute,
    /// `{key, hits, distinct ids counted, {callbacks}}`, read from the minute level of its buckets.
    static let readScript = """
        local prefix = ARGV[1]
        local minute = string.format('%d', tonumber(ARGV[2]))
        local hour = string.format('%d', tonumber(ARGV[2]) - tonumber(ARGV[2]) % 3600)
        local result = {}
        for _, key in ipairs(redis.call('SMEMBERS', prefix .. ':rollup:active:' .. minute)) do
          local base = prefix .. ':{' .. key .. '}'
          local hits = redis.call('ZSCORE', base .. ':60:' .. hour, minute) or '0'
          local unique = redis.call('ZSCORE', base .. ':u:60:' .. hour, minute) or '0'
          result[#result + 1] = {key, hits, unique, redis.call('SMEMBERS', base .. ':cb:' .. minute)}
        end
        return result
        """

    /// KEYS[1] the lock, KEYS[2] a sink's cursor. ARGV: the owner's token, the minute just delivered.
    /// Moves the cursor past that minute only if this owner still holds the lock and the cursor is
    /// still at that minute. Returns 1 if it moved.
    static let advanceScript = """
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then
          return 0
        end
        if redis.call('GET', KEYS[2]) ~= ARGV[2] then
          return 0
        end
        redis.call('SET', KEYS[2], string.format('%d', tonumber(ARGV[2]) + 60))
        return 1
        """

    /// KEYS[1] the lock. ARGV: the owner's token. Deletes the lock only if this owner holds it.
    static let releaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """
}
