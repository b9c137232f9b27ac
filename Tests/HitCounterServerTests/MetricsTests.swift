import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport
import Testing

/// `GET /metrics` on the real binary: requests by route and status, and the Redis client's figures.
@Suite struct MetricsTests {
    @Test func exposesRequestAndRedisMetricsInPrometheusFormat() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url])
            let client = HTTPClient.shared
            let base = "http://127.0.0.1:\(server.port)"
            var hit = HTTPClientRequest(url: "\(base)/hit?key=metrics")
            hit.method = .POST
            for _ in 0..<3 { _ = try await client.execute(hit, timeout: .seconds(5)) }
            _ = try await client.execute(HTTPClientRequest(url: "\(base)/hits?range=0"), timeout: .seconds(5))

            let response = try await client.execute(HTTPClientRequest(url: "\(base)/metrics"), timeout: .seconds(5))
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            let lines = Set(text.split(whereSeparator: \.isNewline).map(String.init))
            #expect(lines.contains(#"hb_requests_total{http_route="/hit",http_request_method="POST",http_response_status_code="200"} 3"#))
            #expect(lines.contains(#"hb_requests_total{http_route="/hits",http_request_method="GET",http_response_status_code="400"} 1"#))
            #expect(lines.contains(#"http_server_request_duration_count{http_route="/hit",http_request_method="POST",http_response_status_code="200"} 3"#))
            // Refused requests are timed too, not only counted.
            #expect(lines.contains(#"http_server_request_duration_count{http_route="/hits",http_request_method="GET",http_response_status_code="400"} 1"#))
            // One connection for hits and reads, one for the roll-ups (RollupService).
            #expect(lines.contains(#"hitcounter_redis_connects_total{outcome="success"} 2"#))
            let roundTrips = lines.first { $0.hasPrefix("hitcounter_redis_round_trips_total ") }.flatMap { Int($0.split(separator: " ")[1]) }
            #expect((roundTrips ?? 0) >= 2, "the handshake and the hits went to Redis")
            #expect(lines.contains { $0.hasPrefix("hitcounter_redis_batch_size_bucket{le=\"1.0\"}") })
            #expect(!text.contains("metrics\""), "no counter key appears as a label")
            #expect(!text.contains(#"error_type="200""#), "a success is no error: no error row for it")
            server.process.signal(SIGTERM)
            await server.process.wait()
        }
    }
}
