/// A Redis Cluster redirect, read from an error reply (docs/cluster.md): `MOVED <slot> <host>:<port>`
/// (the slot lives on that node now: follow it and fix the map) or `ASK <slot> <host>:<port>` (the slot
/// is moving: send this one command there, after `ASKING`, and keep the map). Either way the command did
/// not run, so sending it again is safe.
public struct ClusterRedirect: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case moved
        case ask
    }

    public let kind: Kind
    public let slot: Int
    public let node: ClusterNode

    /// The redirect an error message holds; nil for any other error.
    public init?(_ message: String) {
        let parts = message.split(separator: " ")
        guard parts.count == 3, let slot = Int(parts[1]), (0..<HashSlot.count).contains(slot) else { return nil }
        switch parts[0] {
        case "MOVED": self.kind = .moved
        case "ASK": self.kind = .ask
        default: return nil
        }
        guard let node = ClusterNode(endpoint: String(parts[2])) else { return nil }
        self.slot = slot
        self.node = node
    }
}

/// A node of a cluster, as the cluster names it.
public struct ClusterNode: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, the host an IPv4 address, a name, or an IPv6 address (whose colons the last one
    /// follows, as Redis writes it, with or without brackets).
    init?(endpoint: String) {
        guard let colon = endpoint.lastIndex(of: ":"), let port = Int(endpoint[endpoint.index(after: colon)...]), (1...65535).contains(port) else {
            return nil
        }
        var host = endpoint[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty else { return nil }
        self.host = String(host)
        self.port = port
    }

    public var description: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
}
