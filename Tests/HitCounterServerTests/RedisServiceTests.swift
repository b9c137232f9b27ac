import HitCounter
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import HitCounterServer

/// The service on a real Redis: replicas agree, and Redis going away is a 503, not a crash.
@Suite struct RedisServiceTests {
    @Test func twoInstancesOnOneRedisGiveTheSameTotals() async throws {
        try await withRedisServer { redis in
            try await testApplication(redis: redis.configuration).test(.router) { first in
                try await testApplication(redis: redis.configuration).test(.router) { second in
                    for index in 0..<50 {
                        let client: any TestClientProtocol = index % 2 == 0 ? first : second
                        try await client.execute(uri: "/hit?key=shared&count=\(index % 4 + 1)", method: .post) { #expect($0.status == .ok) }
                    }
                    let expected = (0..<50).reduce(0) { $0 + $1 % 4 + 1 }
                    for client in [first, second] as [any TestClientProtocol] {
                        try await client.execute(uri: "/hits?key=shared", method: .get) {
                            #expect($0.text == #"{"key":"shared","range":60,"hits":\#(expected)}"# + "\n")
                        }
                    }
                }
            }
        }
    }

    @Test func answers503WhileRedisIsDownAndRecoversByItself() async throws {
        let redis = try RedisServer()
        try await redis.start()
        var configuration = redis.configuration
        configuration.commandTimeout = .milliseconds(300)
        configuration.connectTimeout = .milliseconds(300)
        try await testApplication(redis: configuration).test(.router) { client in
            try await client.execute(uri: "/hit", method: .post) { #expect($0.status == .ok) }
            await redis.stop()
            for uri in ["/hit", "/hits"] {
                try await client.execute(uri: uri, method: uri == "/hit" ? .post : .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    #expect(response.headers[.retryAfter] == "1")
                    #expect(response.text == #"{"error":{"message":"the store is unavailable or too slow; try again shortly"}}"# + "\n")
                }
            }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }

            try await redis.start()
            var status = HTTPResponse.Status.serviceUnavailable
            let deadline = ContinuousClock.now + .seconds(2)
            while status != .ok, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                status = try await client.execute(uri: "/hit", method: .post) { $0.status }
            }
            #expect(status == .ok, "serves again within 2 s of Redis returning")
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
        await redis.stop()
    }
}
