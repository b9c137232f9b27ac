import Foundation
import HitCounter
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import HitCounterServer

/// `GET /series`, `GET /top` and `GET /stream` over HTTP: their answers, their refusals, and streams
/// that a cap bounds and a shutdown ends.
@Suite struct LiveViewRoutesTests {
    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func seriesAndTopAnswerWhatHitsCounted() async throws {
        try await testApplication().test(.router) { client in
            // Redis's second before the hits (the series answers it): they all land in its minute or, when a
            // minute ends while they are sent, in it and the next.
            var before = 0
            try await client.execute(uri: "/series?key=home&range=120&step=60", method: .get) { response in
                before = try #require(try Self.json(response.text)["now"] as? Int)
            }
            for (key, count) in [("home", 5), ("about", 2), ("home", 1), ("blog", 2)] {
                try await client.execute(uri: "/hit?key=\(key)&count=\(count)", method: .post) { #expect($0.status == .ok) }
            }
            try await client.execute(uri: "/series?key=home&range=120&step=60", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                let series = try Self.json(response.text)
                #expect(series["key"] as? String == "home")
                #expect(series["range"] as? Int == 120 && series["step"] as? Int == 60 && series["unique"] as? Bool == false)
                #expect(series["total"] as? Int == 6)
                let points = try #require(series["points"] as? [[String: Any]])
                let now = try #require(series["now"] as? Int)
                #expect(points.count == (now % 60 == 59 ? 2 : 3), "\(points)")
                #expect(points.map { $0["hits"] as? Int ?? -1 }.reduce(0, +) == 6)
                #expect(points.allSatisfy { ($0["start"] as? Int ?? 1) % 60 == 0 })
                let lastTwo = points.suffix(2).map { $0["hits"] as? Int ?? -1 }
                if before / 60 == now / 60 {
                    #expect(lastTwo.last == 6, "every hit in the minute of the read: \(points)")
                } else {
                    #expect(lastTwo.reduce(0, +) == 6, "the hits in the minute before the read's and in its own: \(points)")
                }
            }
            try await client.execute(uri: "/top?range=60&limit=2", method: .get) { response in
                #expect(response.status == .ok)
                let top = try Self.json(response.text)
                let keys = try #require(top["keys"] as? [[String: Any]])
                #expect(keys.map { $0["key"] as? String ?? "" } == ["home", "about"], "equal counts in key order: \(response.text)")
                #expect(keys.map { $0["hits"] as? Int ?? 0 } == [6, 2])
                #expect(top["range"] as? Int == 60 && top["limit"] as? Int == 2 && top["now"] is Int)
            }
            try await client.execute(uri: "/top", method: .get) { response in
                let top = try Self.json(response.text)
                #expect(top["range"] as? Int == 3600)
            }
        }
    }

    @Test func badStepsRangesAndLimitsAre400WithAMessage() async throws {
        try await testApplication().test(.router) { client in
            let cases = [
                "/series?step=0": "step must be an integer from 1 to 86400",
                "/series?step=1.5": "step must be an integer from 1 to 86400",
                "/series?range=86400&step=59": "range / step must be at most 1440 points: use a step of at least 60 for this range",
                "/series?range=0": "range must be an integer from 1 to 86400",
                "/series?key=": "key must be 1 to 200 bytes of UTF-8",
                "/series?limit=3": "limit is not a parameter of this route (it takes key, range, step, unique)",
                "/series?unique=yes": "unique must be true or false",
                "/top?limit=0": "limit must be an integer from 1 to 100",
                "/top?limit=101": "limit must be an integer from 1 to 100",
                "/top?range=86401": "range must be an integer from 1 to 86400",
                "/top?key=home": "key is not a parameter of this route (it takes range, limit)",
                "/stream?range=60": "range is not a parameter of this route (it takes key)",
            ]
            for (uri, message) in cases {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .badRequest, "\(uri)")
                    #expect(response.text == #"{"error":{"message":"# + "\"\(message)\"}}\n", "\(uri)")
                }
            }
        }
    }

    @Test func topIsNotFoundWhenTopKeysAreOff() async throws {
        try await withRedisServer { redis in
            try await testApplication(redis: redis.configuration) { $0.topKeys = false }.test(.router) { client in
                try await client.execute(uri: "/hit?key=home", method: .post) { #expect($0.status == .ok) }
                try await client.execute(uri: "/top", method: .get) { response in
                    #expect(response.status == .notFound)
                    #expect(response.text == #"{"error":{"message":"top keys are off on this service (--top-keys false, or Redis is a cluster)"}}"# + "\n")
                }
                try await client.execute(uri: "/series?key=home&range=60&step=60", method: .get) { #expect($0.status == .ok) }
            }
        }
    }

    /// The events of a stream, from what a raw connection received.
    static func events(_ text: String) throws -> [[String: Any]] {
        try text.components(separatedBy: "\n\n").filter { $0.hasPrefix("event: hits\n") || $0.contains("\nevent: hits\n") }.map { block in
            let data = try #require(block.split(separator: "\n").first { $0.hasPrefix("data: ") })
            return try Self.json(String(data.dropFirst(6)))
        }
    }

    static let streamRequest = "GET /stream?key=live HTTP/1.1\r\nHost: x\r\n\r\n"

    /// What a stream sent until `enough` holds of it, or 10 s passed (a busy machine is slow, not wrong).
    static func receive(_ connection: RawConnection, until enough: (String) throws -> Bool) async throws -> String {
        try await connection.receive(timeout: .seconds(10), until: enough).text
    }

    @Test func aStreamSendsTheWindowsOnceASecond() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url])
            let hit = "POST /hit?key=live&count=5 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            #expect(try await rawExchange(port: server.port, hit).responses.first?.status == 200)
            let stream = try RawConnection(port: server.port)
            defer { stream.close() }
            try await stream.send(Self.streamRequest)
            var received = try await Self.receive(stream) { try Self.events($0).count >= 2 }
            #expect(received.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(received.contains("Content-Type: text/event-stream; charset=utf-8\r\n") && received.contains("Cache-Control: no-store\r\n"))
            let first = try Self.events(received)
            #expect(first.count >= 2, "\(received)")
            for event in first {
                #expect(event["key"] as? String == "live")
                #expect(event["minute"] as? Int == 5 && event["hour"] as? Int == 5, "\(event)")
            }
            // Another replica's hit shows in the next events: the numbers are Redis's, not this process's.
            let other = try await ServerProcess(["--redis-url", redis.url])
            #expect(try await rawExchange(port: other.port, hit).responses.first?.status == 200)
            let before = received
            received += try await Self.receive(stream) { try Self.events(before + $0).last?["minute"] as? Int == 10 }
            let events = try Self.events(received)
            #expect(events.last?["minute"] as? Int == 10 && events.last?["hour"] as? Int == 10, "\(events)")
            let seconds = events.compactMap { $0["now"] as? Int }
            #expect(zip(seconds, seconds.dropFirst()).allSatisfy { $0 < $1 }, "one event per second: \(seconds)")
        }
    }

    @Test func streamsBeyondTheCapAre503() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url, "--max-streams", "1"])
            let first = try RawConnection(port: server.port)
            try await first.send(Self.streamRequest)
            #expect(try await Self.receive(first) { $0.contains("\r\n\r\n") }.hasPrefix("HTTP/1.1 200 OK"))
            let refused = try #require(try await rawExchange(port: server.port, Self.streamRequest).responses.first)
            #expect(refused.status == 503)
            #expect(refused.header("retry-after") == "1")
            #expect(refused.body == #"{"error":{"message":"too many open streams (1); try again later"}}"# + "\n")
            // Its place is free again once the server sees the client gone (at its next event's write).
            first.close()
            var reopened = false
            for _ in 0..<40 where !reopened {
                try await Task.sleep(for: .milliseconds(250))
                reopened = try await rawExchange(port: server.port, Self.streamRequest, timeout: .milliseconds(300)).responses.first?.status == 200
            }
            #expect(reopened)
        }
    }

    /// An open stream ends with `event: end` when the service drains, and does not hold up its exit.
    @Test func aStreamDoesNotHoldUpShutdown() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url])
            let stream = try RawConnection(port: server.port)
            defer { stream.close() }
            try await stream.send(Self.streamRequest)
            var received = try await Self.receive(stream) { try Self.events($0).count >= 1 }
            #expect(try Self.events(received).count >= 1)
            server.process.signal(SIGTERM)
            #expect(await server.process.wait(timeout: .seconds(10)) != nil, "exits with a stream open")
            #expect(server.process.exitCode == 0)
            let rest = try await stream.receive(timeout: .seconds(2))
            received += rest.text
            #expect(received.contains("event: end\ndata: {\"reason\":\"the service is shutting down\"}\n\n"), "\(received)")
            #expect(rest.closed)
        }
    }
}
