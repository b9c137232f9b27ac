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
        let server = try await ServerProcess(
            ["--store", "memory", "--log-level", "debug"], environment: ["HITCOUNTER_WRITE_TOKEN": token]
        )
        #expect(try await self.hit(server, key: "private-user-key", token: token) == .ok)
        #expect(try await self.hit(server, key: "private-user-key") == .unauthorized)
        try await Task.sleep(for: .milliseconds(100))

        let lines = try server.jsonLog()
        let requests = lines.filter { $0["message"] as? String == "request" }
        #expect(requests.map { $0["http.status"] as? String } == ["200", "401"])
        for request in requests {
            #expect(request["http.method"] as? String == "POST")
            #expect(request["http.path"] as? String == "/hit")
            #expect((request["hb.request.id"] as? String)?.isEmpty == false)
            #expect(request["level"] as? String == "debug")
            #expect(request["time"] is String)
        }
        #expect(Set(requests.compactMap { $0["hb.request.id"] as? String }).count == 2, "each request has its own id")
        #expect(!server.log.contains("private-user-key"))
        #expect(!server.log.contains(token))
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
    /// when it ends (with how many calls failed), not a line per request or per reconnect.
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
        #expect(notable.map { $0["message"] as? String } == ["Redis is not serving; requests get 503 until it does"], "\(notable)")
        let back = lines.filter { $0["message"] as? String == "Redis is serving again" }
        #expect(back.count == 1)
        #expect(Int(back.first?["failed_calls"] as? String ?? "") ?? 0 >= 10)
    }
}
