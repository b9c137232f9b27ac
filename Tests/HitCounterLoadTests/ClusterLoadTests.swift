import Foundation
import TestSupport
import Testing

@testable import HitCounterLoad

/// The load tool against two replicas of the service on a real six-node Redis Cluster while
/// `redis-cli --cluster reshard` moves live slots: every hit carries its own id (`--ids`), so what
/// the tool saw acknowledged can be compared with what the service counted (docs/cluster.md).
///
/// Run on its own, as `scripts/test` does: `HITCOUNTER_CLUSTER_TESTS=1 swift test --skip-build --filter Cluster`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HITCOUNTER_CLUSTER_TESTS"] == "1"))
struct ClusterLoadTests {
    /// Each sample of `/metrics`, by its name and labels.
    static func metrics(_ server: ServerProcess) async throws -> [String: Double] {
        let answer = try await rawExchange(port: server.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        var samples: [String: Double] = [:]
        for line in try #require(answer.responses.first).body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test func reshardingUnderTheLoadToolFailsNothingAndCountsWhatWasAcknowledged() async throws {
        try await withRedisCluster { cluster in
            let url = "redis://127.0.0.1:\(cluster.nodes[0].port)"
            let replicas = [
                try await ServerProcess(["--redis-url", url, "--log-level", "warning"]),
                try await ServerProcess(["--redis-url", url, "--log-level", "warning"]),
            ]
            let primaries = try cluster.primaries()
            try #require(primaries.count == 3, "three primaries: \(primaries.map(\.port))")
            let from = try primaries[0].cli(["CLUSTER", "MYID"]), to = try primaries[2].cli(["CLUSTER", "MYID"])
            let keys = 300
            let started = ContinuousClock.now
            async let report = load([
                "--url", replicas[0].url, "--url", replicas[1].url, "--duration", "6s", "--connections", "8", "--mix", "hit=1",
                "--keys", "\(keys)", "--key-prefix", "resharded-", "--ids",
            ])
            try await Task.sleep(for: .seconds(1))
            let reshard = try ChildProcess(try executable("redis-cli").path, [
                "--cluster", "reshard", "127.0.0.1:\(primaries[0].port)", "--cluster-from", from, "--cluster-to", to, "--cluster-slots", "1500",
                "--cluster-yes",
            ])
            let status = await reshard.wait(timeout: .seconds(120))
            let finished = try await report
            #expect(status == 0, "redis-cli --cluster reshard succeeded")
            #expect(finished.errors == 0, "no request failed: \(finished.errorsByStatus) \(finished.errorsByKind)")
            let acknowledged = try #require(finished.operation("hit")).successes
            var counted = 0
            for key in 0..<keys {
                counted += try await replicas[key % 2].hits(key: "resharded-\(key)", range: 300, unique: true)
            }
            #expect(counted == acknowledged, "counted \(counted), acknowledged \(acknowledged)")
            // Many MOVED replies, few refreshes of the map: they are coalesced and at least 200 ms apart.
            let seconds = Double(started.duration(to: .now).components.seconds) + 1
            for replica in replicas {
                let metrics = try await Self.metrics(replica)
                let moved = metrics[#"hitcounter_redis_cluster_redirects_total{kind="moved"}"#] ?? 0
                let refreshes = (metrics[#"hitcounter_redis_cluster_refreshes_total{outcome="success"}"#] ?? 0)
                    + (metrics[#"hitcounter_redis_cluster_refreshes_total{outcome="failure"}"#] ?? 0)
                #expect(moved > 0, "the replica followed MOVED replies")
                #expect(refreshes <= seconds * 5 + 1, "\(refreshes) refreshes in \(seconds) s for \(moved) MOVED replies")
                print("replica \(replica.port): \(Int(moved)) MOVED followed, \(Int(refreshes)) refreshes of the map in \(Int(seconds)) s")
            }
            print("resharding under the load tool: \(finished.requests) hits sent, \(acknowledged) acknowledged, \(counted) counted")
        }
    }
}
