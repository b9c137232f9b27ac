import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport
import Testing

/// SIGTERM on the real binary: stop accepting, finish what is in flight, close Redis, exit 0.
@Suite struct ShutdownTests {
    @Test func sigtermFinishesInFlightRequestsThenExits() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url, "--redis-timeout", "5"])
            let client = HTTPClient.shared
            let base = "http://127.0.0.1:\(server.port)"
            #expect(try await client.execute(HTTPClientRequest(url: "\(base)/readyz"), timeout: .seconds(5)).status == .ok)

            // Redis stalls for a second, so this hit is in flight when SIGTERM arrives.
            try redis.stall(milliseconds: 1000)
            var hit = HTTPClientRequest(url: "\(base)/hit?key=drain")
            hit.method = .POST
            let inFlight = Task { try await client.execute(hit, timeout: .seconds(10)) }
            // SIGTERM once the server holds the hit (its in-flight gauge says so), not after a guess
            // that a slow run (a sanitizer's) outlasts.
            let deadline = ContinuousClock.now + .seconds(5)
            while try await Self.postsInFlight(base) < 1 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            server.process.signal(SIGTERM)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await !server.isListening(), "no new connections once SIGTERM has arrived")

            let response = try await inFlight.value
            #expect(response.status == .ok, "the in-flight hit is answered, not cut")
            let body = try await response.body.collect(upTo: 1024)
            #expect(String(buffer: body) == #"{"key":"drain","count":1,"counted":true}"# + "\n")

            #expect(await server.process.wait(timeout: .seconds(10)) != nil, "exits after draining")
            #expect(server.process.exitCode == 0, "exit status: \(server.log)")
            // The acknowledged hit is in Redis.
            #expect(try redis.cli(["--scan", "--pattern", "hc:{drain}:s:*"]).isEmpty == false)
        }
    }

    /// The server's `POST` requests in flight, from its `/metrics`.
    static func postsInFlight(_ base: String) async throws -> Double {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(base)/metrics"), timeout: .seconds(5))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        let line = text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("http_server_active_requests{") && $0.contains("POST") }
        return line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
    }

    /// With a shutdown delay, readiness turns to 503 first while requests are still served. The delay is
    /// long enough that the requests made during it are made within it on a loaded machine (a clean-clone
    /// CI once took more than 1.5 s for them, and the listener had closed: "connection refused").
    @Test func sigtermTurnsReadinessTo503First() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url, "--shutdown-delay", "5"])
            let client = HTTPClient.shared
            let base = "http://127.0.0.1:\(server.port)"
            #expect(try await client.execute(HTTPClientRequest(url: "\(base)/readyz"), timeout: .seconds(5)).status == .ok)
            let signalled = ContinuousClock.now
            server.process.signal(SIGTERM)
            try await Task.sleep(for: .milliseconds(300))
            let ready = try await client.execute(HTTPClientRequest(url: "\(base)/readyz"), timeout: .seconds(5))
            #expect(ready.status == .serviceUnavailable, "readiness turns first")
            #expect(String(buffer: try await ready.body.collect(upTo: 1024)) == #"{"error":{"message":"the service is shutting down"}}"# + "\n")
            var hit = HTTPClientRequest(url: "\(base)/hit?key=draining")
            hit.method = .POST
            #expect(try await client.execute(hit, timeout: .seconds(5)).status == .ok, "still serving during the delay")
            #expect(await server.process.wait(timeout: .seconds(15)) != nil)
            #expect(server.process.exitCode == 0)
            #expect(ContinuousClock.now - signalled >= .milliseconds(4900), "the listener stayed open for the delay")
        }
    }

    @Test func aBadSettingStopsStartUpWithOneLine() async throws {
        let process = try ChildProcess(ServerProcess.binary, ["--port", "http"], logFile: "/tmp/hitcounter-bad-setting-\(getpid()).log")
        #expect(await process.wait(timeout: .seconds(10)) != nil)
        #expect(process.exitCode != 0)
        let output = (try? String(contentsOfFile: "/tmp/hitcounter-bad-setting-\(getpid()).log", encoding: .utf8)) ?? ""
        #expect(output.split(whereSeparator: \.isNewline).first == "Error: --port / HITCOUNTER_PORT must be a port number from 0 to 65535")
    }
}
