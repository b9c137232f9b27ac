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
