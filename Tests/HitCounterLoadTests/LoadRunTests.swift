import Foundation
import Testing
import TestSupport

@testable import HitCounterLoad

/// The engine against real `HitCounterServer` processes (memory store): bounded runs of a second or less.
///
/// Serialized: timing assertions (rates, stalls) should not compete with each other for the two cores.
@Suite(.serialized) struct LoadRunTests {
    @Test func aClosedLoopSendsExactlyTheRequestsAskedAndTheServerCountsTheHits() async throws {
        let server = try await ServerProcess.memory(named: "a")
        let report = try await load([
            "--url", server.url, "--requests", "500", "--connections", "4", "--mix", "hit=70,hits=30",
            "--key-prefix", "closed-", "--range", "3600",
        ])
        #expect(report.isAccounted)
        #expect(report.requests == 500)
        #expect(report.successes == 500)
        #expect(report.errors == 0)
        #expect(report.errorsByKind.values.allSatisfy { $0 == 0 })
        #expect(report.instances == [LoadReport.Instance(instance: "a", requests: 500, sharePercent: 100, errors: 0)])
        #expect(report.latencyMs.p50 > 0 && report.latencyMs.p50 <= report.latencyMs.p99 && report.latencyMs.p99 <= report.latencyMs.max)
        #expect(report.mode == "closed-loop")

        // 70% of 500 is 350; the standard deviation is about 10.
        let hit = try #require(report.operation("hit"))
        let hits = try #require(report.operation("hits"))
        #expect((300...400).contains(hit.requests))
        #expect(hit.requests + hits.requests == 500)
        // The strongest check: the server holds exactly the hits the tool saw acknowledged.
        #expect(try await server.hits(key: "closed-0", range: 3600) == hit.successes)
    }

    /// `--ids`: every hit carries its own id, so the distinct ids the server counted are exactly the
    /// hits acknowledged (a hit counted twice, or one counted but not acknowledged, would show).
    @Test func idsLetARunCompareAcknowledgedWithCounted() async throws {
        let server = try await ServerProcess.memory(named: "a")
        let report = try await load(["--url", server.url, "--requests", "400", "--connections", "4", "--mix", "hit=1", "--key-prefix", "ids-", "--ids"])
        let hit = try #require(report.operation("hit"))
        #expect(hit.successes == 400)
        #expect(try await server.hits(key: "ids-0", range: 3600, unique: true) == hit.successes)
    }

    /// `--sequential-keys`: N requests over N keys give each key exactly one hit.
    @Test func sequentialKeysGiveEachKeyOneRequest() async throws {
        let server = try await ServerProcess.memory(named: "a")
        let report = try await load([
            "--url", server.url, "--requests", "60", "--keys", "60", "--sequential-keys", "--connections", "4", "--mix", "hit=100",
            "--key-prefix", "seq-",
        ])
        #expect(report.successes == 60)
        for key in 0..<60 {
            #expect(try await server.hits(key: "seq-\(key)", range: 60) == 1, "seq-\(key)")
        }
    }

    @Test func anOpenLoopKeepsToItsSchedule() async throws {
        let server = try await ServerProcess.memory(named: "a")
        let report = try await load(["--url", server.url, "--rate", "200", "--duration", "1s", "--connections", "4", "--mix", "healthz=100"])
        #expect(report.isAccounted)
        #expect((190...210).contains(report.requests), "\(report.requests)")
        #expect(report.successes == report.requests)
        // Never ahead of its schedule; later only by what a slow machine (or a sanitizer) adds.
        #expect((0.95...3).contains(report.elapsedSeconds), "\(report.elapsedSeconds)")
        #expect(report.mode == "open-loop" && report.targetRate == 200)
    }

    @Test func anOpenLoopRunIsBoundedByRequestsToo() async throws {
        let server = try await ServerProcess.memory(named: "a")
        let report = try await load([
            "--url", server.url, "--rate", "1000", "--requests", "150", "--duration", "30s", "--connections", "2", "--mix", "healthz=100",
        ])
        #expect(report.requests == 150 && report.successes == 150)
        // The schedule alone takes 0.15 s; ending long before the 30 s duration shows the count ended it.
        #expect((0.1...10).contains(report.elapsedSeconds), "\(report.elapsedSeconds)")
    }

    /// Coordinated omission: while the server is stopped, the schedule keeps issuing requests, and
    /// each one's latency runs from its intended time, so the stall shows in the percentiles.
    @Test func anOpenLoopDoesNotHideAStall() async throws {
        let server = try await ServerProcess.memory(named: "a")
        let arguments = ["--url", server.url, "--rate", "200", "--duration", "1500ms", "--connections", "4", "--mix", "healthz=100"]
        let run = Task { try await load(arguments) }
        try await Task.sleep(for: .milliseconds(500))
        server.process.signal(SIGSTOP)
        try await Task.sleep(for: .milliseconds(500))
        server.process.signal(SIGCONT)
        let report = try await run.value
        #expect(report.isAccounted)
        #expect(report.successes == report.requests)
        // A third of the requests were due during the 500 ms stall: they waited up to 500 ms.
        #expect(report.latencyMs.max >= 400, "\(report.latencyMs)")
        #expect(report.latencyMs.p90 >= 150, "\(report.latencyMs)")
    }

    @Test func aTargetThatIsDownGivesConnectErrors() async throws {
        let url = "http://127.0.0.1:\(try freePort())"
        let report = try await load(["--url", url, "--requests", "20", "--connections", "2"])
        #expect(report.isAccounted)
        #expect(report.requests == 20)
        #expect(report.successes == 0)
        #expect(report.errorsByKind["connect"] == 20)
        #expect(report.instances.isEmpty)
    }

    @Test func answersOutsideTwoHundredAreErrorsByStatus() async throws {
        let server = try await ServerProcess.memory(named: "a")
        let report = try await load(["--url", server.url, "--mix", "hits=100", "--range", "0", "--requests", "200", "--connections", "4"])
        #expect(report.isAccounted)
        #expect(report.requests == 200)
        #expect(report.successes == 0)
        #expect(report.errorsByStatus == ["400": 200])
        #expect(report.instances == [LoadReport.Instance(instance: "a", requests: 200, sharePercent: 100, errors: 200)])
        #expect(report.operation("hits")?.successes == 0)
    }

    @Test func twoInstancesShareTheLoad() async throws {
        let a = try await ServerProcess.memory(named: "a")
        let b = try await ServerProcess.memory(named: "b")
        let report = try await load([
            "--url", a.url, "--url", b.url, "--requests", "1000", "--connections", "4", "--mix", "healthz=100",
        ])
        #expect(report.isAccounted)
        #expect(report.successes == 1000)
        #expect(report.instances.map(\.instance).sorted() == ["a", "b"])
        // Closed loop, the worker's connections share its budget, so a server slowed by the rest of the
        // suite answers fewer: both get a real part, not necessarily half.
        for instance in report.instances {
            #expect((20...80).contains(instance.sharePercent), "\(report.instances)")
        }
        // The open loop hands requests to free connections in turn, so the split is even (exactly, unless
        // a connection is still busy when its turn comes, which a machine busy with the rest of the suite
        // makes common): both get close to half, neither most.
        let open = try await load([
            "--url", a.url, "--url", b.url, "--rate", "1000", "--requests", "200", "--connections", "4", "--mix", "healthz=100",
        ])
        #expect(open.successes == 200)
        #expect(open.instances.count == 2 && open.instances.allSatisfy { (70...130).contains($0.requests) }, "\(open.instances)")
    }

    @Test func anUnansweredRequestTimesOut() async throws {
        let server = try await ServerProcess.memory(named: "a")
        // Stopped, the server's kernel still accepts connections, but nothing answers.
        server.process.signal(SIGSTOP)
        defer { server.process.signal(SIGCONT) }
        let report = try await load(["--url", server.url, "--requests", "4", "--connections", "2", "--timeout", "200ms"])
        #expect(report.isAccounted)
        #expect(report.requests == 4)
        #expect(report.errorsByKind["timeout"] == 4)
        #expect((0.4...1.5).contains(report.elapsedSeconds), "\(report.elapsedSeconds)")
    }

    /// At the end of the schedule the run waits `--timeout` (and a margin) for what it issued; what is
    /// still queued or in flight then is `cancelled`, so the totals still add up.
    @Test func requestsLeftAtTheEndAreCancelled() async throws {
        let server = try await ServerProcess.memory(named: "a")
        server.process.signal(SIGSTOP)
        defer { server.process.signal(SIGCONT) }
        let report = try await load([
            "--url", server.url, "--rate", "100", "--duration", "500ms", "--connections", "1", "--timeout", "300ms", "--mix", "healthz=100",
        ])
        #expect(report.isAccounted)
        #expect(report.requests == 50)
        #expect(report.successes == 0)
        #expect(report.errorsByKind["timeout"].map { (1...4).contains($0) } == true, "\(report.errorsByKind)")
        #expect(report.errorsByKind["cancelled"].map { $0 >= 40 } == true, "\(report.errorsByKind)")
    }

    @Test func theCommandWritesCSVAndJSON() async throws {
        let server = try await ServerProcess.memory(named: "a,1")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hitcounter-load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("instances.csv")
        let json = directory.appendingPathComponent("report.json")

        let command = try LoadCommand.parse([
            "--url", server.url, "--requests", "100", "--connections", "2", "--quiet", "--csv", csv.path, "--json", json.path,
        ])
        try await command.run()

        #expect(try String(contentsOf: csv, encoding: .utf8) == "instance,requests,share_percent,errors\n\"a,1\",100,100.00,0\n")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as? [String: Any])
        for key in [
            "requests", "successes", "errors", "errors_by_status", "errors_by_kind",
            "elapsed_seconds", "requests_per_second", "latency_ms", "instances",
        ] {
            #expect(object[key] != nil, "\(key)")
        }
        #expect(object["requests"] as? Int == 100)
        #expect(object["successes"] as? Int == 100)
        let latency = try #require(object["latency_ms"] as? [String: Any])
        #expect(Set(latency.keys) == ["p50", "p90", "p99", "p999", "max", "mean"])
        let instances = try #require(object["instances"] as? [[String: Any]])
        #expect(instances.count == 1)
        #expect(instances.first?["instance"] as? String == "a,1")
        #expect(instances.first?["requests"] as? Int == 100)
        #expect(instances.first?["share_percent"] as? Double == 100)
        // And it reads back into the same report.
        let report = try JSONDecoder().decode(LoadReport.self, from: Data(contentsOf: json))
        #expect(report.requests == 100 && report.isAccounted)
    }
}
