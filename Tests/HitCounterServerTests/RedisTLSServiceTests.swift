import Foundation
import TestSupport
import Testing

/// The binary on a Redis that speaks only TLS: served with the right CA; with the wrong one, not ready,
/// with the cause in its log; with checking turned off, served and warned about.
@Suite struct RedisTLSServiceTests {
    static func status(_ port: Int, _ request: String) async throws -> (Int?, String) {
        let response = try await rawExchange(port: port, request).responses.first
        return (response?.status, response?.body ?? "")
    }

    static let hit = "POST /hit?key=tls HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    static let read = "GET /hits?key=tls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    static let ready = "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

    @Test func servesOverTLSAndExplainsARefusal() async throws {
        let certificates = try TestCertificates()
        let tlsPort = try freePort()
        try await withRedisServer(arguments: certificates.redisArguments(port: tlsPort)) { _ in
            let url = "rediss://localhost:\(tlsPort)"
            let server = try await ServerProcess(["--redis-url", url, "--redis-tls-ca", certificates.path("ca.crt")])
            #expect(try await Self.status(server.port, Self.hit).0 == 200)
            #expect(try await Self.status(server.port, Self.read) == (200, #"{"key":"tls","range":60,"hits":1}"# + "\n"))
            #expect(try server.jsonLog().contains { ($0["message"] as? String) == "starting" && ($0["redis.address"] as? String) == "rediss://localhost:\(tlsPort)/0" })

            let refused = try await ServerProcess(["--redis-url", url, "--redis-tls-ca", certificates.path("other-ca.crt")])
            #expect(try await Self.status(refused.port, Self.ready).0 == 503)
            #expect(try await Self.status(refused.port, Self.hit).0 == 503)
            let warnings = try refused.jsonLog().filter { $0["level"] as? String == "warning" }
            #expect(warnings.contains { ($0["redis.error"] as? String ?? "").contains("CERTIFICATE_VERIFY_FAILED") }, "\(refused.log)")

            let unchecked = try await ServerProcess(["--redis-url", url, "--redis-tls-insecure", "true"])
            #expect(try await Self.status(unchecked.port, Self.hit).0 == 200)
            #expect(try unchecked.jsonLog().contains { $0["level"] as? String == "warning" && ($0["message"] as? String ?? "").contains("does NOT verify") })
        }
    }
}
