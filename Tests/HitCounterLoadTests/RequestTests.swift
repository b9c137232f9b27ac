import NIOCore
import Testing

@testable import HitCounterLoad

/// The bytes the tool sends, and how a run is shared between event loops.
@Suite struct RequestTests {
    private func request(_ arguments: [String], entry: Int = 0) throws -> String {
        let options = try LoadOptions.parse(arguments + ["--requests", "1"])
        let target = options.targets[0]
        let templates = RequestTemplates(target: target, mix: options.mix, keys: options.keys, ranges: options.ranges, count: options.count, ids: options.ids)
        var random = SplitMix64(seed: 1)
        var buffer = ByteBuffer()
        templates.write(entry: entry, random: &random, into: &buffer)
        return String(buffer: buffer)
    }

    @Test func requestsUseQueryParametersAndNoBody() throws {
        let host = "Host: 127.0.0.1:8080\r\n"
        #expect(try self.request(["--mix", "hit=1"]) == "POST /hit?key=default&count=1 HTTP/1.1\r\n\(host)Content-Length: 0\r\n\r\n")
        #expect(try self.request(["--mix", "hits=1", "--range", "3600"]) == "GET /hits?key=default&range=3600 HTTP/1.1\r\n\(host)\r\n")
        #expect(try self.request(["--mix", "series=1", "--range", "3600"]) == "GET /series?key=default&range=3600&step=60 HTTP/1.1\r\n\(host)\r\n")
        #expect(try self.request(["--mix", "series=1", "--range", "604800"]) == "GET /series?key=default&range=604800&step=420 HTTP/1.1\r\n\(host)\r\n")
        #expect(try self.request(["--mix", "top=1", "--range", "60"]) == "GET /top?range=60 HTTP/1.1\r\n\(host)\r\n")
        #expect(try self.request(["--mix", "healthz=1", "--url", "http://[::1]:81/v1"]) == "GET /v1/healthz HTTP/1.1\r\nHost: [::1]:81\r\n\r\n")
        #expect(try self.request(["--mix", "hit=1", "--count", "7", "--key-prefix", "a b/"]).hasPrefix("POST /hit?key=a%20b%2F0&count=7 "))
        let withID = try self.request(["--mix", "hit=1", "--ids"])
        #expect(withID.hasPrefix("POST /hit?key=default&id=") && withID.contains("&count=1 HTTP/1.1"), "\(withID)")
        #expect(withID.split(separator: "&")[1].count == "id=".count + 16)
    }

    @Test func keysAndRangesAreChosenUniformly() throws {
        let options = try LoadOptions.parse(["--mix", "hits=1", "--keys", "4", "--range", "1,2", "--requests", "1"])
        let templates = RequestTemplates(target: options.targets[0], mix: options.mix, keys: options.keys, ranges: options.ranges, count: 1)
        var random = SplitMix64(seed: 42)
        var seen: [String: Int] = [:]
        for _ in 0..<8000 {
            var buffer = ByteBuffer()
            templates.write(entry: 0, random: &random, into: &buffer)
            seen[String(String(buffer: buffer).split(separator: " ")[1]), default: 0] += 1
        }
        #expect(seen.count == 8)
        #expect(seen.values.allSatisfy { (800...1200).contains($0) }, "\(seen)")
    }

    @Test func budgetAndRateAreSplitExactly() throws {
        let options = try LoadOptions.parse([
            "--requests", "1001", "--connections", "7", "--threads", "3", "--rate", "900",
            "--url", "http://127.0.0.1:1", "--url", "http://127.0.0.1:2",
        ])
        let plans = WorkerPlan.split(options, seed: 0)
        #expect(plans.map(\.connectionTargets) == [[0, 1, 0], [1, 0], [0, 1]])
        #expect(plans.compactMap(\.budget).reduce(0, +) == 1001)
        #expect(abs(plans.compactMap(\.rate).reduce(0, +) - 900) < 1e-9)
        #expect(Set(plans.map(\.seed)).count == 3)
    }
}
