/// Takes the roll-up lock if it is free, or renews it if this owner holds it, and reads where each
/// sink stands (see docs/exactly-once.md).
struct ClaimScript: RedisScriptCall {
    /// Redis's second, and each sink's position when this owner holds the lock (nil otherwise).
    struct Reply: Sendable {
        let now: Int64
        let cursors: [RollupCursor]?
    }

    let keys: [[UInt8]]
    let arguments: [RedisArgument]
    private let sinks: Int

    /// - Parameters:
    ///   - second: the current second, for tests that drive time; Redis's clock when nil.
    ///   - maxRange: the store's `--max-range`: a position lags at most the longer of it and a day, as
    ///     long as the minute indexes live.
    init(keys schema: KeySchema, sinks: [String], token: String, leaseMilliseconds: Int64, second: Int64?, maxRange: Int) {
        self.keys = [schema.rollupLock] + sinks.flatMap { [schema.rollupCursor(sink: $0), schema.rollupPage(sink: $0)] }
        self.arguments = [RedisArgument(token), RedisArgument(leaseMilliseconds), second.map { RedisArgument($0) } ?? "", RedisArgument(maxRange)]
        self.sinks = sinks.count
    }

    static func decode(_ reply: RESPValue) throws -> Reply {
        guard case .array(let values) = reply, values.count >= 2, let held = values[0].int64, let now = values[1].int64 else {
            throw Self.unexpected(reply)
        }
        guard held == 1 else { return Reply(now: now, cursors: nil) }
        var cursors: [RollupCursor] = []
        var index = 2
        while index + 1 < values.count {
            guard let minute = values[index].int64, case .bulkString(let after) = values[index + 1] else { throw Self.unexpected(reply) }
            cursors.append(RollupCursor(minute: minute, after: after.isEmpty ? nil : after))
            index += 2
        }
        guard index == values.count else { throw Self.unexpected(reply) }
        return Reply(now: now, cursors: cursors)
    }

    /// KEYS[1] the lock, then each sink's cursor (the next minute it is owed) and page (`<minute> <last
    /// key delivered>` while it is part-way through a minute). ARGV: the owner's token, the lease in
    /// milliseconds, the current second or "" for Redis's clock, the max range.
    ///
    /// Returns `{0, now}` when another owner holds the lock, else `{1, now, then each sink's minute and
    /// the last key delivered in it ("" for none)}`. A new cursor starts at the minute before the
    /// current one; a cursor never lags more than the longer of a day and the max range, as long as the
    /// minute indexes live (the hit script's `indexLife`).
    static let script = RedisScript(name: "rollup-claim", source: """
        #!lua
        \(ScriptGeometry.declarations)
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
        local minute = now - now % secondsSpan
        local horizon = math.max(rollupHorizon, tonumber(ARGV[4]))
        local result = {1, now}
        for i = 2, #KEYS, 2 do
          local next = tonumber(redis.call('GET', KEYS[i]))
          if not next then
            next = minute - secondsSpan
            redis.call('SET', KEYS[i], string.format('%d', next))
          elseif next < minute - horizon then
            next = minute - horizon
            redis.call('SET', KEYS[i], string.format('%d', next))
          end
          local after = ''
          local page = redis.call('GET', KEYS[i + 1])
          if page then
            local space = string.find(page, ' ', 1, true)
            if space and tonumber(string.sub(page, 1, space - 1)) == next then
              after = string.sub(page, space + 1)
            end
          end
          result[#result + 1] = next
          result[#result + 1] = after
        end
        return result
        """)
}
