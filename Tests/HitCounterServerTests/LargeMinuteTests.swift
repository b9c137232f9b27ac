import AsyncHTTPClient
import Foundation
@testable import HitCounter
import TestSupport
import Testing

/// 200,000 counters hit in one minute, then rolled up by the real binary while hits keep coming: the
/// roll-up completes (every counter once), no Redis call takes 10 ms (SLOWLOG), and hits keep their
/// latency; and a counter with a million ids is reset without a long call. Heavy (about two minutes,
/// both cores), so `scripts/test` runs it alone, after the rest:
/// `HITCOUNTER_LARGE_TESTS=1 swift test --skip-build --filter LargeMinuteTests`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HITCOUNTER_LARGE_TESTS"] == "1"), .serialized)
struct LargeMinuteTests {
    static let counters = 200_000

    @Test func aMinuteOf200000CountersRollsUpWithoutStallingRedisOrHits() async throws {
        try await withRedisServer(arguments: ["--slowlog-log-slower-than", "1000", "--slowlog-max-len", "100000"]) { redis in
            // Start early in a minute, so all the hits land in it.
            var now = try redis.second()
            if now % 60 > 15 {
                try await Task.sleep(for: .seconds(Int(60 - now % 60) + 1))
                now = try redis.second()
            }
            let minute = now - now % 60
            let preload = ContinuousClock.now
            // Straight to Redis, a thousand counters per script call: through HTTP a debug build would
            // take longer than the minute.
            let client = RedisClient(configuration: redis.configuration)
            for first in stride(from: 0, to: Self.counters, by: 1000) {
                let counters = (first..<min(first + 1000, Self.counters)).map { index in
                    HitScript.Counter(key: CounterKey("large-\(index)"), count: 1, ids: [], callbacks: [])
                }
                let reply = try await client.run(HitScript(
                    keys: KeySchema(), counters: counters, minute: minute, second: nil, maxRange: 86_400, dedupPeriod: 86_400
                ))
                try #require(reply.counted != nil, "still in minute \(minute)")
            }
            client.shutdown()
            let index = String(decoding: KeySchema().rollupIndex(minute: minute), as: UTF8.self)
            try #require(try redis.cli(["ZCARD", index]) == "\(Self.counters)", "all hits in minute \(minute)")
            print("preloaded \(Self.counters) counters in \(ContinuousClock.now - preload)")
            // The preload is this test's own doing: what counts is Redis during the roll-up and the hits.
            // Its calls of a thousand counters leave Lua a heap of garbage whose collection lands in some
            // later call (CI timed a one-counter hit at 12.3 ms): a fresh Lua state, as after a restart.
            try redis.cli(["SCRIPT", "FLUSH"])
            try redis.cli(["SLOWLOG", "RESET"])

            // The server and the load tool run niced, and Redis ahead of them.
            try Self.raisePriority(of: redis)
            let server = try await ServerProcess(["--redis-url", redis.url], niceness: Self.niceness)
            // Hits at a steady rate, before the minute closes, and while it rolls up.
            let before = try await Self.load(server, seconds: max(1, Int(minute + 58 - (try redis.second()))))
            let during = try await Self.load(server, seconds: 20)
            // Polled through /metrics: parsing a log of 200,000 lines every second would load the cores
            // this test measures.
            let deadline = ContinuousClock.now + .seconds(240)
            while try await Self.rolledUp(server) < Self.counters && ContinuousClock.now < deadline {
                try await Task.sleep(for: .seconds(1))
            }
            try await Task.sleep(for: .seconds(2))
            // The steady hits' own counter rolls up too; count the preloaded ones.
            let events = try Self.events(server, minute: minute).filter { $0.key.hasPrefix("large-") }
            #expect(events.count == Self.counters, "every counter once")
            #expect(Set(events.map(\.key)).count == Self.counters, "none twice")
            let times = events.map(\.time).sorted()
            let slowest = try Self.slowlogMaxMicroseconds(redis)
            print(
                """
                roll-up of \(Self.counters) counters: \(times.first ?? "-") to \(times.last ?? "-"); \
                hits' p99 \(before.p99) ms before, \(during.p99) ms during (\(during.requests) hits, \(during.errors) errors); \
                slowest Redis call \(slowest) µs
                """
            )
            // For `bench/large-minute`, which runs this test against a release build.
            print("large-minute figures: p50 \(before.p50) \(during.p50) p99 \(before.p99) \(during.p99) slowest \(slowest) hits \(during.requests) errors \(before.errors + during.errors) rollup \(times.first ?? "-") \(times.last ?? "-")")
            #expect(slowest < 10_000, "no Redis call of 10 ms or more: \(slowest) µs")
            #expect(during.errors == 0 && before.errors == 0)
            // Hits keep their latency: a ceiling measured in the same run, not a fixed number. A stall would
            // be hundreds of ms; the floor is 25 ms because this p99 is 20 hits of a debug build on two shared
            // cores, and CI saw 14.9 ms during against 4.7 ms before with no Redis call over 4.3 ms.
            #expect(during.p99 <= max(25, 3 * before.p99), "p99 \(during.p99) ms during the roll-up, \(before.p99) ms before")
        }
    }

    /// A counter with a million ids (kept a day each) is reset in calls that each hold Redis under 10 ms
    /// (SLOWLOG): one call deleting them all held it about a second, and every client waited. Afterwards
    /// none of its keys is left, and it counts from zero.
    @Test func aResetOfAMillionIdsHoldsRedisUnder10Milliseconds() async throws {
        try await withRedisServer(arguments: ["--slowlog-log-slower-than", "10000", "--slowlog-max-len", "10000"]) { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let counter = HitCounter(store: store)
            _ = try await counter.hit(key: "reset-me", count: 1, id: HitID("a-real-id"))
            // The other ids straight into Redis, as the hit script writes them: a million hits through it
            // would take minutes.
            let prefix = String(decoding: KeySchema().counter("reset-me").id(HitID("")), as: UTF8.self)
            try redis.cli(["EVAL", "for i = 1, tonumber(ARGV[2]) do redis.call('SET', ARGV[1] .. i, '1', 'EX', 86400) end return 1", "0", prefix, "1000000"])
            let keys = try redis.cli(["DBSIZE"])
            #expect((Int(keys) ?? 0) > 1_000_000, "a million ids and more: \(keys)")
            try redis.cli(["SLOWLOG", "RESET"])
            // Redis ahead of this test's own debug build, which scans and deletes on the same two cores.
            try Self.raisePriority(of: redis)
            let started = ContinuousClock.now
            try await counter.reset(key: "reset-me")
            print("reset of a million ids in \(ContinuousClock.now - started)")
            let slowest = try Self.slowlogMaxMicroseconds(redis)
            #expect(slowest < 10_000, "no Redis call of 10 ms or more: \(slowest) µs")
            #expect(try redis.cli(["EVAL", "return #redis.call('KEYS', ARGV[1])", "0", prefix + "*"]) == "0", "no id left")
            #expect(try await counter.hits(key: "reset-me", range: 60) == 0)
            #expect(try await counter.hit(key: "reset-me", count: 1, id: HitID("a-real-id")).counted, "its ids count again")
        }
    }

    /// Puts Redis's process ahead of the others (nice -5) where the test may (root): on two cores,
    /// SLOWLOG would otherwise time the scheduler (Redis preempted mid-call by a debug build: a `SCAN`
    /// of 1,000 slots timed at 13.8 ms in CI), not the work of Redis's calls.
    static func raisePriority(of redis: RedisServer) throws {
        guard let line = try redis.cli(["INFO", "server"]).split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("process_id:") }),
            let pid = id_t(line.dropFirst("process_id:".count).trimmingCharacters(in: .whitespaces))
        else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), pid, -5)
    }

    /// The server's and the load tool's nice value: 10 in the test, so SLOWLOG times Redis, not the
    /// scheduler (see below); `bench/large-minute` runs the server at 0, as in production, where the
    /// roll-up's thread (nice 10) yields to the event loops.
    static var niceness: Int { Int(ProcessInfo.processInfo.environment["HITCOUNTER_LARGE_NICENESS"] ?? "") ?? 10 }

    /// How many roll-up events the log sink has written (`hitcounter_rollup_events_total`).
    static func rolledUp(_ server: ServerProcess) async throws -> Int {
        let response = try await HTTPClient.shared.execute(
            HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/metrics"), timeout: .seconds(5)
        )
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let line = text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("hitcounter_rollup_events_total{") }
        return line.flatMap { $0.split(separator: " ").last }.flatMap { Int(Double($0) ?? 0) } ?? 0
    }

    /// `POST /hit` at 100 per second for `seconds`, from the load tool: its p50, p99 and its errors.
    static func load(_ server: ServerProcess, seconds: Int) async throws -> (p50: Double, p99: Double, requests: Int, errors: Int) {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("large-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: report) }
        let loader = URL(fileURLWithPath: ServerProcess.binary).deletingLastPathComponent().appendingPathComponent("hitcounter-load").path
        let log = report.path + ".log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let process = try ChildProcess(loader, [
            "--url", "http://127.0.0.1:\(server.port)", "--rate", "100", "--duration", "\(seconds)s", "--connections", "4",
            "--mix", "hit=100", "--key-prefix", "steady-", "--quiet", "--json", report.path,
        ], logFile: log, niceness: Self.niceness)
        await process.wait(timeout: .seconds(seconds + 30))
        guard FileManager.default.fileExists(atPath: report.path) else {
            throw RedisServerError("the load tool wrote no report: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        let latency = try #require(json["latency_ms"] as? [String: Any])
        return (
            try #require(latency["p50"] as? Double), try #require(latency["p99"] as? Double), try #require(json["requests"] as? Int),
            try #require(json["errors"] as? Int)
        )
    }

    /// The roll-up log lines of `minute`: each event's key and when it was logged.
    static func events(_ server: ServerProcess, minute: Int64) throws -> [(key: String, time: String)] {
        try server.jsonLog().compactMap { line in
            guard line["message"] as? String == "rollup", line["event.minute"] as? String == "\(minute)",
                let key = line["event.key"] as? String, let time = line["time"] as? String
            else { return nil }
            return (key, time)
        }
    }

    /// The longest call in Redis's SLOWLOG (set to keep every call of 1 ms or more), in microseconds;
    /// 0 when none took 1 ms.
    static func slowlogMaxMicroseconds(_ redis: RedisServer) throws -> Int {
        let json = try redis.cli(["--json", "SLOWLOG", "GET", "100000"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[Any]])
        let slow = entries.compactMap { entry -> (Int, String)? in
            guard let microseconds = entry[2] as? Int, let command = entry[3] as? [Any] else { return nil }
            return (microseconds, command.prefix(4).map { "\($0)" }.joined(separator: " "))
        }
        // The longest of each command: a hit's EVALSHA, the roll-up's ZRANGE, GETRANGE, SMEMBERS...
        let byCommand = Dictionary(grouping: slow) { String($0.1.split(separator: " ").first ?? "") }
        let longest = byCommand.map { "\($0.key): \($0.value.map(\.0).max()!) µs (\($0.value.count) of 1 ms or more)" }.sorted()
        print("Redis calls of 1 ms or more: \(slow.count); longest by command: \(longest.joined(separator: "; "))")
        for (microseconds, command) in slow.sorted(by: { $0.0 > $1.0 }).prefix(5) {
            print("  \(microseconds) µs: \(command)")
        }
        return slow.map(\.0).max() ?? 0
    }
}
