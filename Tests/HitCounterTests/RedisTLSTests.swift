import Foundation
import TestSupport
import Testing

@testable import HitCounter

/// TLS to a real `redis-server --tls-port`, with certificates from a private CA made by `openssl`:
/// hits and reads over TLS, each kind of bad certificate refused with its cause, mutual TLS, the
/// explicit switch that turns checking off, and a CA file rotated under a running store.
@Suite struct RedisTLSTests {
    static let now = WindowTests.now

    /// A store on `rediss://<host>:<tls port>` with `tls`.
    static func store(_ host: String, port: Int, tls: RedisTLS) throws -> RedisHitStore {
        var configuration = try RedisConfiguration(url: "rediss://\(host):\(port)")
        configuration.tls = tls
        // As `RedisServer.configuration`: a reply may wait seconds while the whole suite runs.
        configuration.commandTimeout = .seconds(10)
        return RedisHitStore(configuration: configuration)
    }

    /// The error a store's first command meets.
    static func failure(of store: RedisHitStore) async -> String {
        do {
            try await store.ping()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func hitsAndReadsGoOverTLS() async throws {
        let certificates = try TestCertificates()
        let port = try freePort()
        try await withRedisServer(arguments: certificates.redisArguments(port: port)) { redis in
            for host in ["localhost", "127.0.0.1"] {
                let store = try Self.store(host, port: port, tls: RedisTLS(caFile: certificates.path("ca.crt")))
                defer { store.shutdown() }
                try await store.hit(key: CounterKey("tls-\(host)"), count: 3, at: Self.now)
                #expect(try await store.hits(key: CounterKey("tls-\(host)"), range: 60, at: Self.now) == 3, "\(host)")
            }
            // The plain port sees what came over TLS: one Redis.
            #expect(try redis.cli(["EXISTS", "hc:{tls-localhost}:h:\(BucketLevel.hours.sliceStart(Self.now))"]) == "1")
            // Without a CA file, the system's trust store is used, which does not know this CA.
            let untrusted = try Self.store("localhost", port: port, tls: RedisTLS())
            defer { untrusted.shutdown() }
            #expect(await Self.failure(of: untrusted).contains("CERTIFICATE_VERIFY_FAILED"))
        }
    }

    @Test func badCertificatesAreRefusedWithTheirCause() async throws {
        let certificates = try TestCertificates()
        let trusted = RedisTLS(caFile: certificates.path("ca.crt"))
        let port = try freePort()
        try await withRedisServer(arguments: certificates.redisArguments(port: port)) { _ in
            let wrongCA = try Self.store("localhost", port: port, tls: RedisTLS(caFile: certificates.path("other-ca.crt")))
            defer { wrongCA.shutdown() }
            let error = await Self.failure(of: wrongCA)
            #expect(error.contains("CERTIFICATE_VERIFY_FAILED") && error.contains("not signed by a CA this service trusts"), "\(error)")
        }
        let expiredPort = try freePort()
        try await withRedisServer(arguments: certificates.redisArguments(port: expiredPort, certificate: "expired")) { _ in
            let store = try Self.store("localhost", port: expiredPort, tls: trusted)
            defer { store.shutdown() }
            let error = await Self.failure(of: store)
            #expect(error.contains("CERTIFICATE_VERIFY_FAILED") && error.contains("Redis's certificate expired on 2020-01-02"), "\(error)")
        }
        let elsewherePort = try freePort()
        try await withRedisServer(arguments: certificates.redisArguments(port: elsewherePort, certificate: "elsewhere")) { _ in
            for host in ["localhost", "127.0.0.1"] {
                let store = try Self.store(host, port: elsewherePort, tls: trusted)
                defer { store.shutdown() }
                let error = await Self.failure(of: store)
                #expect(error.contains("failedToValidateHostname") || error.contains("hostname"), "\(host): \(error)")
            }
            // Turned off explicitly, nothing is checked: the same server is accepted.
            let unchecked = try Self.store("localhost", port: elsewherePort, tls: RedisTLS(caFile: certificates.path("other-ca.crt"), verifiesCertificate: false))
            defer { unchecked.shutdown() }
            try await unchecked.ping()
        }
    }

    @Test func mutualTLS() async throws {
        let certificates = try TestCertificates()
        let port = try freePort()
        try await withRedisServer(arguments: certificates.redisArguments(port: port, clients: true)) { _ in
            let anonymous = try Self.store("localhost", port: port, tls: RedisTLS(caFile: certificates.path("ca.crt")))
            defer { anonymous.shutdown() }
            #expect(await Self.failure(of: anonymous) != "no error", "a client without a certificate is refused")
            let client = try Self.store("localhost", port: port, tls: RedisTLS(
                caFile: certificates.path("ca.crt"), certificateFile: certificates.path("client.crt"), keyFile: certificates.path("client.key")
            ))
            defer { client.shutdown() }
            try await client.hit(key: "mutual", count: 2, at: Self.now)
            #expect(try await client.hits(key: "mutual", range: 60, at: Self.now) == 2)
        }
    }

    /// The CA file is read at every connection attempt: replacing it (a rotated Secret) takes effect at
    /// the next attempt, without a new store.
    @Test func aRotatedCAFileTakesEffectAtTheNextConnection() async throws {
        let certificates = try TestCertificates()
        let port = try freePort()
        let mounted = certificates.path("mounted-ca.crt")
        try FileManager.default.copyItem(atPath: certificates.path("other-ca.crt"), toPath: mounted)
        try await withRedisServer(arguments: certificates.redisArguments(port: port)) { _ in
            let store = try Self.store("localhost", port: port, tls: RedisTLS(caFile: mounted))
            defer { store.shutdown() }
            #expect(await Self.failure(of: store).contains("CERTIFICATE_VERIFY_FAILED"))
            try FileManager.default.removeItem(atPath: mounted)
            try FileManager.default.copyItem(atPath: certificates.path("ca.crt"), toPath: mounted)
            var connected = false
            for _ in 0..<50 where !connected {
                try await Task.sleep(for: .milliseconds(100))
                connected = await Self.failure(of: store) == "no error"
            }
            #expect(connected)
        }
    }

    @Test func urlsAndTheirTLS() throws {
        #expect(try RedisConfiguration(url: "rediss://cache.example:6380/2").tls == RedisTLS())
        #expect(try RedisConfiguration(url: "rediss://cache.example:6380/2").description == "rediss://cache.example:6380/2")
        #expect(try RedisConfiguration(url: "redis://cache.example").tls == nil)
        #expect(throws: RedisConfigurationError.self) { try RedisConfiguration(url: "https://cache.example") }
    }
}
