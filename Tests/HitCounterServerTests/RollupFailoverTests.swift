import AsyncHTTPClient
import Foundation
import TestSupport
import Testing

/// Two real replicas: the one holding the roll-up lock is killed (SIGKILL) in the middle of a minute,
/// and the other emits that minute, once, after the dead one's lease runs out. Waits for a real minute
/// to close (up to about 80 s), in parallel with the other tests.
@Suite struct RollupFailoverTests {
    @Test func killingTheElectedReplicaMidMinuteStillEmitsTheMinuteOnce() async throws {
        try await withRedisServer { redis in
            // Act early in a minute, so the hits and the kill happen inside it.
            let start = try redis.second()
            if start % 60 > 35 { try await Task.sleep(for: .seconds(Int(61 - start % 60))) }

            let arguments = ["--redis-url", redis.url, "--rollup-lease", "2"]
            let replicas = [
                "a": try await ServerProcess(arguments + ["--server-name", "a"]),
                "b": try await ServerProcess(arguments + ["--server-name", "b"]),
            ]
            var holderName = ""
            for _ in 0..<100 where holderName.isEmpty {
                holderName = String(try redis.cli(["GET", "hc:rollup:lock"]).prefix { $0 != "/" })
                try await Task.sleep(for: .milliseconds(50))
            }
            let holder = try #require(replicas[holderName], "a replica holds the lock")
            let survivorName = holderName == "a" ? "b" : "a"
            let survivor = try #require(replicas[survivorName])

            let minute = try redis.second() / 60 * 60
            for index in 0..<20 {
                // Ten ids, each sent twice, alternately through both replicas.
                let replica = index % 2 == 0 ? holder : survivor
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(replica.port)/hit?key=failover&id=req-\(index % 10)")
                request.method = .POST
                #expect(try await HTTPClient.shared.execute(request, timeout: .seconds(5)).status == .ok)
            }
            #expect(try redis.second() / 60 * 60 == minute, "the hits all fell in one minute")
            holder.process.signal(SIGKILL)

            // The minute closes, the dead holder's lease runs out, the survivor emits.
            let deadline = ContinuousClock.now + .seconds(90)
            var events: [[String: Any]] = []
            while events.isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(250))
                events = try Self.rollupEvents(in: survivor, key: "failover", minute: minute)
            }
            try await Task.sleep(for: .seconds(2))  // a second emission, if any, would show by now
            events = try Self.rollupEvents(in: survivor, key: "failover", minute: minute)
            #expect(events.count == 1, "emitted once: \(events)")
            #expect(events.first?["event.hits"] as? String == "10")
            #expect(events.first?["event.unique"] as? String == "10")
            #expect(events.first?["event.emittedBy"] as? String == survivorName)
            #expect(try Self.rollupEvents(in: holder, key: "failover", minute: minute).isEmpty, "the killed holder never emitted it")
        }
    }

    /// The `rollup` lines of a replica's log for one key and minute.
    static func rollupEvents(in server: ServerProcess, key: String, minute: Int64) throws -> [[String: Any]] {
        try server.jsonLog().filter { line in
            line["message"] as? String == "rollup" && line["event.key"] as? String == key && line["event.minute"] as? String == "\(minute)"
        }
    }
}
