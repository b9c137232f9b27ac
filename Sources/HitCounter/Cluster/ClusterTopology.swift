/// Which node serves each hash slot: the primary and its replicas, read from `CLUSTER SLOTS`
/// (docs/cluster.md; Debian's Redis 7.0 has a `CLUSTER SHARDS` that can report no slots for a shard
/// whose primary failed, so the older command is the one read).
public struct ClusterTopology: Sendable, Equatable {
    public struct Shard: Sendable, Equatable {
        public let slots: [ClosedRange<Int>]
        public let primary: ClusterNode
        public let replicas: [ClusterNode]
    }

    /// One per primary, in the order `CLUSTER SLOTS` first names them.
    public let shards: [Shard]
    /// For each slot, the index of its shard; nil while no primary serves it.
    private let shardOfSlot: [Int?]

    /// Reads a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, ...], replica...], ...]`. A node
    /// reported with an empty host (the node answering, in some versions) is named by `answering`.
    init(slotsReply reply: RESPValue, answering: ClusterNode) throws {
        guard case .array(let ranges) = reply else { throw RedisError.protocolError("CLUSTER SLOTS answered \(reply)") }
        var shards: [(slots: [ClosedRange<Int>], primary: ClusterNode, replicas: [ClusterNode])] = []
        var shardOfSlot = [Int?](repeating: nil, count: HashSlot.count)
        for range in ranges {
            guard case .array(let fields) = range, fields.count >= 3, let start = fields[0].int64, let end = fields[1].int64,
                0 <= start, start <= end, end < Int64(HashSlot.count)
            else { throw RedisError.protocolError("CLUSTER SLOTS answered a range \(range)") }
            let nodes = try fields.dropFirst(2).map { try Self.node($0, answering: answering) }
            let slots = Int(start)...Int(end)
            let index: Int
            if let known = shards.firstIndex(where: { $0.primary == nodes[0] }) {
                index = known
                shards[index].slots.append(slots)
            } else {
                index = shards.count
                shards.append(([slots], nodes[0], Array(nodes.dropFirst())))
            }
            for slot in slots { shardOfSlot[slot] = index }
        }
        self.shards = shards.map { Shard(slots: $0.slots, primary: $0.primary, replicas: $0.replicas) }
        self.shardOfSlot = shardOfSlot
    }

    /// The primary that serves `slot`, if one does.
    public func primary(forSlot slot: Int) -> ClusterNode? {
        self.shardOfSlot[slot].map { self.shards[$0].primary }
    }

    /// Whether every slot has a primary (what `/readyz` asks of a cluster).
    public var coversEverySlot: Bool { !self.shardOfSlot.contains(nil) }

    private static func node(_ value: RESPValue, answering: ClusterNode) throws -> ClusterNode {
        guard case .array(let fields) = value, fields.count >= 2, case .bulkString(let host) = fields[0], let port = fields[1].int64 else {
            throw RedisError.protocolError("CLUSTER SLOTS answered a node \(value)")
        }
        return host.isEmpty ? answering : ClusterNode(host: String(decoding: host, as: UTF8.self), port: Int(port))
    }
}
