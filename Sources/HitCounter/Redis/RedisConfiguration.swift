import NIOCore

/// Where Redis is and how to talk to it.
///
/// Built from `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS) or
/// `unix:///path/to/socket[?db=N]`. A cluster may be named by several nodes, comma-separated
/// (`redis://pw@10.0.0.1:7000,10.0.0.2:7000`): each after the first is `host:port`, or a URL of its
/// own whose address only is used.
public struct RedisConfiguration: Sendable, Equatable {
    public enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unixSocket(path: String)
    }

    /// One Redis, or a Redis Cluster (docs/cluster.md).
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// Asks the server at the first command (`INFO cluster`).
        case auto
        case standalone
        case cluster
    }

    public var address: Address
    /// More nodes to ask for a cluster's topology, after `address` (a cluster only).
    public var seeds: [Address] = []
    public var mode: Mode = .auto
    /// Replicas each flight of hits must reach (`WAIT`) before its hits are acknowledged; 0 does not
    /// wait (Redis replicates asynchronously: a primary that fails may lose its last writes).
    public var waitReplicas = 0
    public var username: String?
    public var password: String?
    public var database: Int
    /// TLS settings: set by a `rediss://` URL; nil for plain TCP and unix sockets.
    public var tls: RedisTLS?
    /// How long a connection attempt (TCP connect plus AUTH and SELECT) may take.
    public var connectTimeout: TimeAmount
    /// How long a command may wait for its reply, counted from the moment it was queued.
    public var commandTimeout: TimeAmount
    /// After a failed connection attempt, commands fail at once for this long before the next attempt,
    /// so an outage costs one connect per interval rather than one per request.
    public var reconnectDelay: TimeAmount
    /// Requests (a command, or commands sent together) waiting for replies beyond this are refused at
    /// once: the backlog stays bounded when Redis is slow.
    public var maxPendingCommands: Int

    public init(
        address: Address = .tcp(host: "127.0.0.1", port: 6379),
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: TimeAmount = .seconds(1),
        commandTimeout: TimeAmount = .seconds(1),
        reconnectDelay: TimeAmount = .milliseconds(100),
        maxPendingCommands: Int = 10_000
    ) {
        self.address = address
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.reconnectDelay = reconnectDelay
        self.maxPendingCommands = maxPendingCommands
    }

    /// Parses a Redis URL; the error says what is wrong with it, without repeating any password.
    public init(url: String) throws(RedisConfigurationError) {
        self.init()
        let nodes = Self.nodes(url)
        if nodes.count > 1 {
            self = try RedisConfiguration(url: nodes[0])
            guard case .tcp = self.address else { throw RedisConfigurationError("lists several nodes, which a unix socket cannot be") }
            for node in nodes.dropFirst() {
                var seed = RedisConfiguration()
                if node.contains("://") {
                    seed = try RedisConfiguration(url: node)
                } else {
                    try seed.parseTCP(node[...])
                }
                self.seeds.append(seed.address)
            }
            return
        }
        if url.hasPrefix("unix://") {
            try self.parseUnix(url.dropFirst("unix://".count))
        } else if url.hasPrefix("redis://") {
            try self.parseTCP(url.dropFirst("redis://".count))
        } else if url.hasPrefix("rediss://") {
            try self.parseTCP(url.dropFirst("rediss://".count))
            self.tls = RedisTLS()
        } else {
            throw RedisConfigurationError("must start with redis://, rediss:// (TLS) or unix://")
        }
    }

    /// The comma-separated nodes of `url`. The commas are looked for only after the credentials (the
    /// last `@` before a second URL starts), so a password may hold a comma.
    private static func nodes(_ url: String) -> [String] {
        guard let scheme = url.range(of: "://") else { return [url] }
        let rest = url[scheme.upperBound...]
        let end = rest.range(of: "://").flatMap { rest[..<$0.lowerBound].lastIndex(of: ",") } ?? rest.endIndex
        let hosts = rest[..<end].lastIndex(of: "@").map { rest.index(after: $0) } ?? rest.startIndex
        let parts = url[hosts...].split(separator: ",", omittingEmptySubsequences: false)
        return [String(url[..<hosts]) + parts[0]] + parts.dropFirst().map(String.init)
    }

    private mutating func parseTCP(_ rest: Substring) throws(RedisConfigurationError) {
        var rest = rest
        guard !rest.isEmpty else { throw RedisConfigurationError("has an empty node") }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let user = credentials[..<colon]
                self.username = user.isEmpty ? nil : try Self.percentDecoded(user, what: "user name")
                self.password = try Self.percentDecoded(credentials[credentials.index(after: colon)...], what: "password")
            } else {
                // redis://secret@host: the lone credential is the password, as redis-cli reads it.
                self.password = try Self.percentDecoded(credentials, what: "password")
            }
        }
        var hostPort = rest
        if let slash = rest.firstIndex(of: "/") {
            hostPort = rest[..<slash]
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty { self.database = try Self.database(db) }
        }
        var host = hostPort
        var port = 6379
        if hostPort.hasPrefix("[") {
            // [::1]:6379
            guard let close = hostPort.firstIndex(of: "]") else { throw RedisConfigurationError("has an unclosed [ in its host") }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw RedisConfigurationError("has something after its IPv6 host") }
                port = try Self.port(after.dropFirst())
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            port = try Self.port(hostPort[hostPort.index(after: colon)...])
        }
        guard !host.isEmpty else { throw RedisConfigurationError("has no host") }
        self.address = .tcp(host: String(host), port: port)
    }

    private mutating func parseUnix(_ rest: Substring) throws(RedisConfigurationError) {
        var path = rest
        if let question = rest.firstIndex(of: "?") {
            path = rest[..<question]
            for pair in rest[rest.index(after: question)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                let value = parts.count == 2 ? parts[1] : ""
                switch parts.first {
                case "db": self.database = try Self.database(value)
                case "password": self.password = try Self.percentDecoded(value, what: "password")
                case "user": self.username = try Self.percentDecoded(value, what: "user name")
                default: throw RedisConfigurationError("has an unknown query parameter (use db, user or password)")
                }
            }
        }
        guard path.hasPrefix("/") else { throw RedisConfigurationError("needs an absolute socket path, as in unix:///run/redis.sock") }
        self.address = .unixSocket(path: String(path))
    }

    private static func port(_ text: Substring) throws(RedisConfigurationError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw RedisConfigurationError("has a port that is not a number from 1 to 65535")
        }
        return port
    }

    private static func database(_ text: Substring) throws(RedisConfigurationError) -> Int {
        guard let db = Int(text), db >= 0 else { throw RedisConfigurationError("has a database that is not a number from 0 up") }
        return db
    }

    private static func percentDecoded(_ text: Substring, what: String) throws(RedisConfigurationError) -> String {
        guard let bytes = PercentDecoding.decode(text.utf8) else { throw RedisConfigurationError("has a bad percent-escape in its \(what)") }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension RedisConfiguration: CustomStringConvertible {
    /// The same settings for another node (of a cluster).
    func at(_ address: Address) -> RedisConfiguration {
        var configuration = self
        configuration.address = address
        configuration.seeds = []
        return configuration
    }

    /// The address without credentials: safe to log.
    public var description: String {
        let auth = self.password == nil ? "" : "***@"
        switch self.address {
        case .tcp(let host, let port):
            let shownHost = host.contains(":") ? "[\(host)]" : host
            return "\(self.tls == nil ? "redis" : "rediss")://\(auth)\(shownHost):\(port)/\(self.database)"
        case .unixSocket(let path):
            return "unix://\(path)?db=\(self.database)\(auth.isEmpty ? "" : "&password=***")"
        }
    }
}

/// A Redis URL that could not be read. The message never repeats the URL, which may hold a password.
public struct RedisConfigurationError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ problem: String) { self.description = "the Redis URL \(problem)" }
}
