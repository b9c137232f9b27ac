import Crypto

/// A Lua script, known to Redis by its SHA1.
///
/// The client runs it with `EVALSHA`; when Redis answers `NOSCRIPT` (a restart, `SCRIPT FLUSH`, a
/// node that never saw it) it sends `EVAL` with the source instead, which also caches it again.
public struct RedisScript: Sendable, Hashable {
    /// For logs and errors.
    public let name: String
    public let source: String
    /// Lowercase hex, as `SCRIPT LOAD` answers.
    public let sha1: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
        let digest = Insecure.SHA1.hash(data: Array(source.utf8))
        self.sha1 = digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

/// One run of a script: every key it touches (so Redis Cluster can route and check the call; a
/// script never builds a key name itself), its other arguments, and its reply as a Swift value.
protocol RedisScriptCall: Sendable {
    associatedtype Reply: Sendable

    static var script: RedisScript { get }
    var keys: [[UInt8]] { get }
    var arguments: [RedisArgument] { get }

    /// Reads the script's reply; a reply of another shape is a `protocolError`.
    static func decode(_ reply: RESPValue) throws -> Reply
}

extension RedisScriptCall {
    /// The error for a reply this call does not expect.
    static func unexpected(_ reply: RESPValue) -> RedisError {
        .protocolError("the \(Self.script.name) script answered \(reply)")
    }
}
