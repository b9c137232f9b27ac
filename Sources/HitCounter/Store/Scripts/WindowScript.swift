/// Sums a window of one counter's series, in one atomic call: the members `WindowPlan` names, read
/// with one `ZMSCORE` per bucket key.
///
/// The plan is made for the second the store expects Redis to be in. The script reads Redis's `TIME`
/// and, if that is another second, answers its time instead of a sum, so the store can plan again.
struct WindowScript: RedisScriptCall {
    /// Redis's time, and the window's sum (nil when the plan was for another second).
    struct Reply: Sendable {
        let second: Int64
        let microseconds: Int64
        let total: Int64?
    }

    let keys: [[UInt8]]
    let arguments: [RedisArgument]

    /// - Parameter driven: the plan's second was given by a test, not expected of Redis's clock.
    init(keys counterKeys: CounterKeys, series: CounterKeys.Series, plan: WindowPlan, driven: Bool) {
        var arguments: [RedisArgument] = [RedisArgument(plan.now), driven ? "1" : "0"]
        for piece in plan.pieces {
            arguments.append(RedisArgument(piece.members.count))
            for member in piece.members { arguments.append(RedisArgument(member)) }
        }
        self.keys = plan.pieces.map { counterKeys.bucket(series, $0.level, sliceStart: $0.sliceStart) }
        self.arguments = arguments
    }

    static func decode(_ reply: RESPValue) throws -> Reply {
        guard case .array(let values) = reply, values.count >= 3, let status = values[0].int64, let second = values[1].int64,
            let microseconds = values[2].int64
        else { throw Self.unexpected(reply) }
        guard status == 1 else { return Reply(second: second, microseconds: microseconds, total: nil) }
        guard values.count == 4, let total = values[3].int64 else { throw Self.unexpected(reply) }
        return Reply(second: second, microseconds: microseconds, total: total)
    }

    /// KEYS: the plan's bucket keys. ARGV: the plan's second, "1" when it is driven by a test, then for
    /// each key the number of its members and the members. Returns `{1, second, microseconds, sum}`,
    /// or `{0, second, microseconds}` when Redis is in another second than the plan.
    static let script = RedisScript(name: "window", source: """
        #!lua flags=no-writes
        local clock = redis.call('TIME')
        local now = tonumber(ARGV[1])
        if ARGV[2] ~= '1' and tonumber(clock[1]) ~= now then
          return {0, tonumber(clock[1]), tonumber(clock[2])}
        end
        local total = 0
        local at = 3
        for k = 1, #KEYS do
          local n = tonumber(ARGV[at])
          local scores = redis.call('ZMSCORE', KEYS[k], unpack(ARGV, at + 1, at + n))
          for i = 1, n do
            if scores[i] then total = total + tonumber(scores[i]) end
          end
          at = at + n + 1
        end
        return {1, now, tonumber(clock[2]), total}
        """)
}
