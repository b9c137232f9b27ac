/// What can go wrong talking to Redis.
///
/// A struct with static cases, so new cases don't break callers. Messages from Redis or hiredis stay in
/// `description` for logs; none of them is meant for an HTTP client.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// Redis could not be reached (refused, unreachable, or we are waiting before the next try).
        case connectionFailed
        /// The connection closed while the command waited for its reply.
        case connectionClosed
        /// No reply within the command timeout.
        case timeout
        /// Too many commands are already waiting for Redis; this one was refused at once.
        case backlogFull
        /// Redis refused for now: out of memory, loading its data, busy with a script, a read-only replica.
        case refused
        /// Redis answered with an error reply.
        case replyError
        /// The bytes from Redis were not valid RESP, or a reply had an unexpected shape.
        case protocolError
        /// AUTH or SELECT was refused when connecting.
        case handshakeFailed
        /// The client was shut down.
        case shutdown
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String = "") {
        self.kind = kind
        self.message = message
    }

    public static let connectionClosed = RedisError(.connectionClosed, "connection closed")
    public static let timeout = RedisError(.timeout, "no reply within the command timeout")
    public static let backlogFull = RedisError(.backlogFull, "too many commands waiting for Redis")
    public static let shutdown = RedisError(.shutdown, "the Redis client is shut down")
    /// Redis's clock moved on each time a call was planned for it (see `RedisClock`): a busy or
    /// far-away Redis. Retriable.
    public static let clockMoved = RedisError(.timeout, "Redis's clock kept moving past the planned call")
    static func connectionFailed(_ message: String) -> RedisError { RedisError(.connectionFailed, message) }
    /// An error reply: `refused` when it names a passing server state, `replyError` otherwise.
    static func replyError(_ message: String) -> RedisError {
        let passing = ["OOM", "LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS"]
        let code = message.prefix { $0 != " " }
        return RedisError(passing.contains(String(code)) ? .refused : .replyError, message)
    }
    static func protocolError(_ message: String) -> RedisError { RedisError(.protocolError, message) }
    static func handshakeFailed(_ message: String) -> RedisError { RedisError(.handshakeFailed, message) }

    /// True when Redis is unavailable, slow or misconfigured, not when it refused the command itself:
    /// the request may succeed if tried again later, so the HTTP layer answers 503 with Retry-After.
    public var isRetriable: Bool {
        switch self.kind {
        case .connectionFailed, .connectionClosed, .timeout, .backlogFull, .shutdown, .protocolError, .handshakeFailed, .refused: true
        case .replyError: false
        }
    }

    public var description: String { "redis \(self.kind.rawValue): \(self.message)" }
}
