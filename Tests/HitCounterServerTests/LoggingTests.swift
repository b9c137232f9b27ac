import AsyncHTTPClient
import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// The binary's logs: one JSON object per line, a request id on each request's line, and neither
/// counter keys nor tokens anywhere.
@Suite struct LoggingTests {
    func hit(_ server: ServerProcess, key: String, token: String? = nil) async throws -> HTTPResponseStatus {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/hit?key=\(key)")
        request.method = .POST
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return try await HTTPClient.shared.execute(request, timeout: .seconds(5)).status
    }

    @Test func debugLogsOneJsonLinePerRequestWithItsIdAndNoKey() async throws {
        let token = "token-that-must-never-be-logged"
        let admin = "admin-token-that-must-never-be-logged"
        let server = try await ServerProcess(
            ["--store", "memory", "--log-level", "debug"], environment: ["HITCOUNTER_WRITE_TOKEN": token, "HITCOUNTER_ADMIN_TOKEN": admin]
        )
        #expect(try await self.hit(server, key: "private-user-key", token: token) == .ok)
        #expect(try await self.hit(server, key: "private-user-key") == .unauthorized)
        // A reset's key is in its path: the line names the route's pattern instead.
        var reset = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/counters/private-user-key")
        reset.method = .DELETE
        reset.headers.add(name: "Authorization", value: "Bearer \(admin)")
        #expect(try await HTTPClient.shared.execute(reset, timeout: .seconds(5)).status == .ok)
        try await Task.sleep(for: .milliseconds(100))

        let lines = try server.jsonLog()
        let requests = lines.filter { $0["message"] as? String == "request" }
        #expect(requests.map { $0["http.status"] as? String } == ["200", "401", "200"])
        #expect(requests.map { $0["http.path"] as? String } == ["/hit", "/hit", "/counters/{key}"])
        for request in requests {
            #expect(["POST", "DELETE"].contains(request["http.method"] as? String))
            #expect((request["hb.request.id"] as? String)?.isEmpty == false)
            #expect(request["level"] as? String == "debug")
            #expect(request["time"] is String)
        }
        #expect(Set(requests.compactMap { $0["hb.request.id"] as? String }).count == 3, "each request has its own id")
        #expect(!server.log.contains("private-user-key"))
        #expect(!server.log.contains(token) && !server.log.contains(admin))
    }

    /// Every variable that can hold a secret holds one, the log is at trace, and requests that make
    /// libraries log (a malformed `traceparent` with a client's `Authorization`, spans exported to an
    /// endpoint that refuses them, a refused token) are sent: no secret appears anywhere in the log.
    /// swift-otel printed the OTLP headers in clear at start-up, and a request's headers with a bad
    /// `traceparent`.
    @Test func noSecretReachesTheLog() async throws {
        let redisPassword = "redis-password-in-the-url"
        try await withRedisServer(arguments: ["--requirepass", redisPassword]) { redis in
            let secrets = [
                "HITCOUNTER_REDIS_URL": "redis://:\(redisPassword)@127.0.0.1:\(redis.port)",
                "HITCOUNTER_REDIS_PASSWORD": redisPassword,
                "HITCOUNTER_WRITE_TOKEN": "write-token-that-is-secret",
                "HITCOUNTER_READ_TOKEN": "read-token-that-is-secret",
                "HITCOUNTER_ADMIN_TOKEN": "admin-token-that-is-secret",
                "HITCOUNTER_CALLBACK_URLS": "http://hook-user:callback-password@127.0.0.1:9/hook?signature=callback-query-secret",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(try freePort())",
                "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20otlp-bearer-secret,x-api-key=otlp-api-key-secret",
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-team=otlp-traces-header-secret",
            ]
            let clientSecret = "a-clients-own-bearer-secret"
            let server = try await ServerProcess(["--log-level", "trace"], environment: secrets)
            #expect(try await self.hit(server, key: "k", token: "write-token-that-is-secret") == .ok)
            #expect(try await self.hit(server, key: "k", token: clientSecret) == .unauthorized)
            for target in ["/hit?key=k", "/series?key=k&range=60&token=query-secret-1"] {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(server.port)\(target)")
                request.method = target.hasPrefix("/hit") ? .POST : .GET
                request.headers.add(name: "Authorization", value: "Bearer \(clientSecret)")
                request.headers.add(name: "traceparent", value: "00-not-a-trace-id-01")
                _ = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
            }
            // The exporter tries its endpoint (nothing listens there) and logs that it failed.
            try await Task.sleep(for: .seconds(2))
            server.process.signal(SIGTERM)
            _ = await server.process.wait(timeout: .seconds(10))

            let log = server.log
            #expect(log.contains("Configuration updated from environment"), "swift-otel's start-up lines are there, scrubbed")
            #expect(log.contains("REDACTED"))
            let values = [redisPassword, clientSecret, "query-secret-1", "otlp-bearer-secret", "otlp-api-key-secret", "otlp-traces-header-secret"]
                + ["write-token-that-is-secret", "read-token-that-is-secret", "admin-token-that-is-secret", "callback-password", "callback-query-secret"]
            for value in values {
                #expect(!log.contains(value), "\(value) is in the log")
            }
            let loud = try server.jsonLog().filter { ["warning", "error", "critical"].contains($0["level"] as? String ?? "") }
            #expect(!loud.contains { ($0["message"] as? String)?.contains("span context") == true }, "a bad traceparent is not a warning: \(loud)")
        }
    }

    @Test func infoLogsNoRequestLines() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        #expect(try await self.hit(server, key: "private-user-key") == .ok)
        try await Task.sleep(for: .milliseconds(100))
        let lines = try server.jsonLog()
        #expect(lines.contains { $0["message"] as? String == "starting" })
        #expect(!lines.contains { $0["message"] as? String == "request" })
        #expect(!server.log.contains("private-user-key"))
    }

    /// Redis down for a while, with requests coming: the log says so once when it starts and once
    /// when it ends (with how many calls failed), not a line per request or per reconnect. The roll-up,
    /// which runs on every replica to fold the minutes (docs/fold.md), says its passes fail once too.
    @Test func anOutageIsLoggedOnceAtItsStartAndOnceAtItsEnd() async throws {
        let redis = try RedisServer()
        try await redis.start()
        let server = try await ServerProcess(["--redis-url", redis.url, "--redis-timeout", "0.3", "--rollup-log", "false"])
        #expect(try await self.hit(server, key: "outage") == .ok)
        await redis.stop()
        for _ in 0..<10 {
            #expect(try await self.hit(server, key: "outage") == .serviceUnavailable)
            try await Task.sleep(for: .milliseconds(150))
        }
        try await redis.start()
        var status = HTTPResponseStatus.serviceUnavailable
        for _ in 0..<100 where status != .ok {
            try await Task.sleep(for: .milliseconds(20))
            status = try await self.hit(server, key: "outage")
        }
        #expect(status == .ok)
        await redis.stop()
        let lines = try server.jsonLog()
        let notable = lines.filter { ($0["level"] as? String).map { ["warning", "error"].contains($0) } ?? false }
        #expect(
            notable.compactMap { $0["message"] as? String }.sorted()
                == ["Redis is not serving; requests get 503 until it does", "roll-up pass failed; retrying with backoff"],
            "\(notable)"
        )
        let back = lines.filter { $0["message"] as? String == "Redis is serving again" }
        #expect(back.count == 1)
        #expect(Int(back.first?["failed_calls"] as? String ?? "") ?? 0 >= 10)
    }
}
