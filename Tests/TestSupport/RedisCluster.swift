import Foundation

/// A real Redis Cluster for one test: six `redis-server --cluster-enabled yes` on free ports (each with
/// its bus port, +10000, free too), joined by `redis-cli --cluster create` into three primaries with a
/// replica each. Never a mock.
public final class RedisCluster: @unchecked Sendable {
    // @unchecked: owned by one test, used one call at a time.
    public let nodes: [RedisServer]

    /// The nodes' ports, primaries and replicas alike.
    public var ports: [Int] { self.nodes.map(\.port) }

    /// - Parameter requiresFullCoverage: Redis's default, `yes`; the tests run with `no`, so the other
    ///   shards go on serving while one has no primary (docs/cluster.md).
    public init(size: Int = 6, requiresFullCoverage: Bool = false) throws {
        self.nodes = try (0..<size).map { _ in
            try RedisServer(choosingPortWith: Self.clusterPort) { port in
                [
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes-\(port).conf", "--cluster-node-timeout", "2000",
                    "--cluster-require-full-coverage", requiresFullCoverage ? "yes" : "no",
                ]
            }
        }
    }

    /// Starts the nodes, joins them, and waits until every node says the cluster is ok.
    public func start() async throws {
        for node in self.nodes { try await node.start() }
        let create = Process()
        create.executableURL = try executable("redis-cli")
        create.arguments = ["--cluster", "create"] + self.nodes.map { "127.0.0.1:\($0.port)" } + ["--cluster-replicas", "1", "--cluster-yes"]
        create.standardOutput = FileHandle.nullDevice
        create.standardError = FileHandle.nullDevice
        try create.run()
        create.waitUntilExit()
        guard create.terminationStatus == 0 else { throw RedisServerError("redis-cli --cluster create failed (\(create.terminationStatus))") }
        // Ok on every node, and every node in every node's CLUSTER SLOTS: a replica shows there only
        // once it has synced from its primary, after the slots are served.
        for _ in 0..<600 {
            let settled = try self.nodes.allSatisfy { node in
                guard try node.cli(["CLUSTER", "INFO"]).contains("cluster_state:ok") else { return false }
                let ports = Set(try node.cli(["CLUSTER", "SLOTS"]).split(whereSeparator: \.isNewline).compactMap { Int($0) })
                return self.ports.allSatisfy(ports.contains)
            }
            if settled { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RedisServerError("the cluster did not settle (cluster_state:ok, every node in CLUSTER SLOTS) within 30 s")
    }

    /// The nodes that are primaries now (and up), in the order of the slots they serve.
    public func primaries() throws -> [RedisServer] {
        let lines = try self.slotLines()
        var seen = Set<Int>()
        return lines.sorted { $0.start < $1.start }.compactMap { line in
            guard seen.insert(line.primary).inserted else { return nil }
            return self.nodes.first { $0.port == line.primary }
        }
    }

    /// The primary of `slot` now.
    public func owner(ofSlot slot: Int) throws -> RedisServer {
        guard let line = try self.slotLines().first(where: { $0.start <= slot && slot <= $0.end }), let node = self.nodes.first(where: { $0.port == line.primary }) else {
            throw RedisServerError("no primary serves slot \(slot)")
        }
        return node
    }

    /// The slots `node` serves as a primary.
    public func slots(of node: RedisServer) throws -> [Int] {
        try self.slotLines().filter { $0.primary == node.port }.flatMap { Array($0.start...$0.end) }
    }

    /// Whether a live node other than `excluded` reports every slot served by a live primary.
    public func coversEverySlot(excluding excluded: RedisServer) throws -> Bool {
        let lines = try self.slotLines(asking: self.nodes.first { $0.port != excluded.port }!)
        let served = lines.filter { $0.primary != excluded.port }.reduce(0) { $0 + $1.end - $1.start + 1 }
        return served == 16_384
    }

    /// The slot ranges of each live primary, as `node` (the first running one by default) sees them
    /// in `CLUSTER NODES`: `<id> <ip:port@bus> <flags> <primary> <ping> <pong> <epoch> <link> <slots>...`.
    private func slotLines(asking node: RedisServer? = nil) throws -> [(start: Int, end: Int, primary: Int)] {
        let asked = node ?? self.nodes.first { $0.isRunning }!
        var lines: [(Int, Int, Int)] = []
        for line in try asked.cli(["CLUSTER", "NODES"]).split(separator: "\n") {
            let fields = line.split(separator: " ")
            // `fail?` is one node's suspicion (no pong within the node timeout), which a loaded machine
            // gives a live node now and then; only `fail`, agreed by the cluster, is a dead primary.
            let flags = fields.count >= 8 ? fields[2].split(separator: ",") : []
            guard fields.count >= 8, flags.contains("master"), !flags.contains("fail"),
                let port = Int(fields[1].split(separator: "@")[0].split(separator: ":").last ?? "")
            else { continue }
            for range in fields.dropFirst(8) where !range.hasPrefix("[") {
                let bounds = range.split(separator: "-").compactMap { Int($0) }
                guard let first = bounds.first else { continue }
                lines.append((first, bounds.last!, port))
            }
        }
        return lines
    }

    public func stop() async {
        for node in self.nodes { await node.stop() }
    }

    /// A free port whose cluster bus port (+10000) is free and valid too.
    @Sendable private static func clusterPort() throws -> Int {
        for _ in 0..<100 {
            let port = try freePort()
            if port + 10_000 <= 65_535, portIsFree(port + 10_000) { return port }
        }
        throw RedisServerError("no free port with a free cluster bus port")
    }
}

/// Runs `body` with a started six-node cluster, and stops it afterwards.
public func withRedisCluster<T>(requiresFullCoverage: Bool = false, _ body: (RedisCluster) async throws -> T) async throws -> T {
    let cluster = try RedisCluster(requiresFullCoverage: requiresFullCoverage)
    try await cluster.start()
    do {
        let result = try await body(cluster)
        await cluster.stop()
        return result
    } catch {
        await cluster.stop()
        throw error
    }
}
