import Foundation
import TestSupport
import Testing

/// The service binary on a real six-node Redis Cluster, named by two of its nodes: it finds the
/// cluster by itself, two replicas agree on exact counts, readiness and metrics speak of the cluster,
/// and `GET /top` says it is not kept (docs/cluster.md).
///
/// Run on their own, as `scripts/test` does: each starts six nodes and loads both cores.
/// `HITCOUNTER_CLUSTER_TESTS=1 swift test --skip-build --filter Cluster`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["HITCOUNTER_CLUSTER_TESTS"] == "1")) struct ClusterServiceTests {
    static func get(_ server: ServerProcess, _ target: String, method: String = "GET") async throws -> RawResponse {
        let answer = try await rawExchange(port: server.port, "\(method) \(target) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", timeout: .seconds(10))
        return try #require(answer.responses.first, "\(method) \(target): no answer")
    }

    @Test func twoReplicasOnAClusterCountExactlyAndSayItIsOne() async throws {
        try await withRedisCluster { cluster in
            let url = "redis://127.0.0.1:\(cluster.nodes[0].port),127.0.0.1:\(cluster.nodes[3].port)"
            let replicas = [
                try await ServerProcess(["--redis-url", url, "--redis-wait-replicas", "1"]),
                try await ServerProcess(["--redis-url", url, "--redis-mode", "cluster"]),
            ]
            for index in 0..<60 {
                for (which, replica) in replicas.enumerated() {
                    let hit = try await Self.get(replica, "/hit?key=k\(index)&count=\(which + 1)&id=i\(index)-\(which % 2)", method: "POST")
                    #expect(hit.status == 200, "\(hit)")
                    let again = try await Self.get(replicas[1 - which], "/hit?key=k\(index)&count=\(which + 1)&id=i\(index)-\(which % 2)", method: "POST")
                    #expect(again.body.contains(#""counted":false"#), "the same id through the other replica: \(again)")
                }
            }
            for index in 0..<60 {
                let read = try await Self.get(replicas[index % 2], "/hits?key=k\(index)")
                #expect(read.body == #"{"key":"k\#(index)","range":60,"hits":3}"# + "\n", "\(read)")
            }
            for replica in replicas {
                #expect(try await Self.get(replica, "/readyz").status == 200)
                let top = try await Self.get(replica, "/top")
                #expect(top.status == 404 && top.body.contains("Redis is a cluster"), "\(top)")
                let metrics = try await Self.get(replica, "/metrics").body
                #expect(metrics.contains(#"hitcounter_redis_cluster_refreshes_total{outcome="success"}"#))
                for primary in try cluster.primaries() {
                    #expect(metrics.contains(#"hitcounter_redis_node_round_trips_total{node="127.0.0.1:\#(primary.port)"}"#), "round trips to \(primary.port)")
                }
                let log = try replica.jsonLog()
                #expect(log.contains { $0["message"] as? String == "Redis is a cluster" })
                #expect(!log.contains { ($0["message"] as? String)?.contains("requires full coverage") == true }, "this cluster does not")
                #expect(!log.contains { $0["level"] as? String == "error" }, "\(log.filter { $0["level"] as? String == "error" })")
            }
        }
    }

    /// A cluster left at Redis's default, `cluster-require-full-coverage yes`, refuses every slot while
    /// one has no primary: the service says so once at start-up, as a warning that names the setting.
    @Test func aClusterThatRequiresFullCoverageIsWarnedOf() async throws {
        try await withRedisCluster(requiresFullCoverage: true) { cluster in
            let server = try await ServerProcess(["--redis-url", "redis://127.0.0.1:\(cluster.nodes[0].port)"])
            #expect(try await Self.get(server, "/hit?key=k", method: "POST").status == 200)
            let warnings = try server.jsonLog().filter { ($0["message"] as? String)?.contains("requires full coverage") == true }
            #expect(warnings.count == 1 && warnings.first?["level"] as? String == "warning", "\(warnings)")
            #expect(warnings.first?["message"] as? String == "the Redis Cluster requires full coverage: while any slot has no primary, every shard refuses commands; set cluster-require-full-coverage no so the other shards keep serving")
        }
    }
}
