/// Releases the roll-up lock, only if this owner holds it.
struct ReleaseScript: RedisScriptCall {
    let keys: [[UInt8]]
    let arguments: [RedisArgument]

    init(keys schema: KeySchema, token: String) {
        self.keys = [schema.rollupLock]
        self.arguments = [RedisArgument(token)]
    }

    static func decode(_ reply: RESPValue) throws {
        guard reply.int64 != nil else { throw Self.unexpected(reply) }
    }

    /// KEYS[1] the lock. ARGV: the owner's token. Deletes the lock only if this owner holds it.
    static let script = RedisScript(name: "rollup-release", source: """
        #!lua
        if redis.call('GET', KEYS[1]) == ARGV[1] then
          return redis.call('DEL', KEYS[1])
        end
        return 0
        """)
}
