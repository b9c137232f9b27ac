/// Asks whether Redis would take a write now, without writing: a script that may write is refused
/// before it runs when Redis is out of memory (`OOM`), a read-only replica (`READONLY`) or loading.
/// `/readyz` uses it, so a Redis that answers PING but refuses hits is not ready.
struct WriteProbeScript: RedisScriptCall {
    var keys: [[UInt8]] { [] }
    var arguments: [RedisArgument] { [] }

    static func decode(_ reply: RESPValue) throws {
        guard reply == .simpleString("OK") else { throw Self.unexpected(reply) }
    }

    static let script = RedisScript(name: "write-probe", source: """
        #!lua
        return redis.status_reply('OK')
        """)
}
