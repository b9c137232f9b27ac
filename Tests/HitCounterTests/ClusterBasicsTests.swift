import Foundation
import TestSupport
import Testing

@testable import HitCounter

/// The first pieces of Redis Cluster support (docs/cluster.md): hash slots, redirects and the
/// topology, checked against Redis's own answers on a real six-node cluster.
@Suite struct ClusterBasicsTests {
    @Test func hashSlotsFollowRedisCRC16AndHashTags() {
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3, "the CRC16 check value of Redis's cluster spec")
        #expect(HashSlot.of(Array("foo".utf8)) == 12_182)
        #expect(HashSlot.of(Array("{user1000}.following".utf8)) == HashSlot.of(Array("{user1000}.followers".utf8)))
        #expect(HashSlot.of(Array("foo{}{bar}".utf8)) == HashSlot.of(Array("foo{}{bar}".utf8)[...]), "an empty tag: the whole key")
        #expect(Array(HashSlot.hashed(Array("foo{}{bar}".utf8))) == Array("foo{}{bar}".utf8))
        #expect(Array(HashSlot.hashed(Array("foo{{bar}}zap".utf8))) == Array("{bar".utf8))
        #expect(Array(HashSlot.hashed(Array("foo{bar}{zap}".utf8))) == Array("bar".utf8))
        let keys = KeySchema()
        let counter = keys.counter("home")
        let slot = HashSlot.of(counter.base)
        #expect(BucketLevel.allCases.allSatisfy { HashSlot.of(counter.bucket(.hits, $0, sliceStart: 0)) == slot })
        #expect(HashSlot.of(counter.id(HitID("x"))) == slot, "every key of a counter in its slot")
    }

    @Test func everySlotHasATagThatLandsInIt() {
        #expect(SlotTags.tags.count == HashSlot.count)
        for slot in [0, 1, 5_461, 12_182, 16_383] + (0..<200).map({ $0 * 81 }) {
            let tag = SlotTags.tag(forSlot: slot)
            #expect(tag.utf8.count <= 4)
            #expect(HashSlot.of(Array("hc:rollup:keys:{\(tag)}:1796016000".utf8)) == slot, "slot \(slot): tag \(tag)")
        }
        #expect(Set(SlotTags.tags).count == HashSlot.count, "one tag per slot")
    }

    @Test func redirectsAreReadFromErrorReplies() {
        #expect(ClusterRedirect("MOVED 3999 127.0.0.1:6381") == ClusterRedirect("MOVED 3999 127.0.0.1:6381"))
        let moved = ClusterRedirect("MOVED 3999 127.0.0.1:6381")
        #expect(moved?.kind == .moved && moved?.slot == 3999 && moved?.node == ClusterNode(host: "127.0.0.1", port: 6381))
        let ask = ClusterRedirect("ASK 16383 redis-2.redis.svc:6379")
        #expect(ask?.kind == .ask && ask?.node.host == "redis-2.redis.svc" && ask?.node.port == 6379)
        #expect(ClusterRedirect("MOVED 1 ::1:7000")?.node == ClusterNode(host: "::1", port: 7000))
        #expect(ClusterRedirect("MOVED 1 [::1]:7000")?.node.description == "[::1]:7000")
        for notOne in ["MOVED 16384 h:1", "MOVED -1 h:1", "MOVED 1 h", "MOVED 1 h:0", "MOVED 1 :6379", "ERR wrong", "ASK 1", "NOSCRIPT No matching script"] {
            #expect(ClusterRedirect(notOne) == nil, "\(notOne)")
        }
    }

    /// Six real nodes: the slots Swift computes are Redis's (`CLUSTER KEYSLOT`), the topology read from
    /// `CLUSTER SLOTS` covers every slot with three primaries and a replica each, and the node it names
    /// for a key's slot is the one that takes the key, where the others answer a `MOVED` that says so.
    @Test func aRealClusterAgreesOnSlotsTopologyAndRedirects() async throws {
        try await withRedisCluster { cluster in
            let keys = KeySchema()
            let names = ["foo", "home", "a}b", "100%", "{x}", "ünï", "page:/blog/post"].map { keys.counter(CounterKey($0)).bucket(.hits, .seconds, sliceStart: 60) }
                + (0..<50).map { Array("plain-\($0)".utf8) }
            for name in names {
                let text = String(decoding: name, as: UTF8.self)
                #expect(try cluster.nodes[0].cli(["CLUSTER", "KEYSLOT", text]) == String(HashSlot.of(name)), "\(text)")
            }

            for slot in stride(from: 7, to: HashSlot.count, by: 997) {
                #expect(try cluster.nodes[0].cli(["CLUSTER", "KEYSLOT", "{\(SlotTags.tag(forSlot: slot))}"]) == String(slot))
            }

            let seed = cluster.nodes[0]
            let client = RedisClient(configuration: seed.configuration)
            defer { client.shutdown() }
            let topology = try ClusterTopology(slotsReply: try await client.send(RedisCommand("CLUSTER", ["SLOTS"])), answering: ClusterNode(host: "127.0.0.1", port: seed.port))
            #expect(topology.shards.count == 3 && topology.coversEverySlot)
            #expect(topology.shards.allSatisfy { $0.replicas.count == 1 })
            #expect(Set(topology.shards.flatMap { [$0.primary] + $0.replicas }.map(\.port)) == Set(cluster.ports))

            for name in names.prefix(10) {
                let slot = HashSlot.of(name)
                let primary = try #require(topology.primary(forSlot: slot))
                let text = String(decoding: name, as: UTF8.self)
                let owner = try #require(cluster.nodes.first { $0.port == primary.port })
                #expect(try owner.cli(["SET", text, "1"]) == "OK")
                let other = try #require(cluster.nodes.first { node in topology.shards.contains { $0.primary.port == node.port } && node.port != primary.port })
                let refused = try other.cli(["SET", text, "1"])
                #expect(ClusterRedirect(refused) == ClusterRedirect("MOVED \(slot) 127.0.0.1:\(primary.port)"), "\(refused)")
            }
        }
    }
}
