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
}
