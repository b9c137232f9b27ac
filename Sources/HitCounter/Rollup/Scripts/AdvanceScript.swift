/// Moves a sink's position past a page it has confirmed, only if this owner still holds the lock and
/// the sink is still where the page began (see docs/exactly-once.md).
struct AdvanceScript: RedisScriptCall {
    let keys: [[UInt8]]
    let arguments: [RedisArgument]

    /// - Parameters:
    ///   - from: where the page began.
    ///   - to: the page's last key, or nil when the page finished the minute.
    init(keys schema: KeySchema, sink: String, token: String, from: RollupCursor, to: [UInt8]?) {
        self.keys = [schema.rollupLock, schema.rollupCursor(sink: sink), schema.rollupPage(sink: sink)]
        self.arguments = [RedisArgument(token), RedisArgument(from.minute), RedisArgument(bytes: from.after ?? []), RedisArgument(bytes: to ?? [])]
    }

    /// True when the position moved.
    static func decode(_ reply: RESPValue) throws -> Bool {
        guard let moved = reply.int64 else { throw Self.unexpected(reply) }
        return moved == 1
    }

    /// KEYS: the lock, the sink's cursor and page. ARGV: the owner's token, the minute, the last key
    /// delivered before the page ("" for none), the page's last key ("" when the minute is done).
    /// Returns 1 if the position moved.
    static let script = RedisScript(name: "rollup-advance", source: """
        #!lua
        \(ScriptGeometry.declarations)
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then
          return 0
        end
        if redis.call('GET', KEYS[2]) ~= ARGV[2] then
          return 0
        end
        local after = ''
        local page = redis.call('GET', KEYS[3])
        if page and string.sub(page, 1, #ARGV[2] + 1) == ARGV[2] .. ' ' then
          after = string.sub(page, #ARGV[2] + 2)
        end
        if after ~= ARGV[3] then
          return 0
        end
        if ARGV[4] == '' then
          redis.call('SET', KEYS[2], string.format('%d', tonumber(ARGV[2]) + secondsSpan))
          redis.call('DEL', KEYS[3])
        else
          redis.call('SET', KEYS[3], ARGV[2] .. ' ' .. ARGV[4], 'EX', 2 * rollupHorizon)
        end
        return 1
        """)
}
