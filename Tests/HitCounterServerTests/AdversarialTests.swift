import AsyncHTTPClient
import Foundation
import NIOCore
import PropertyBased
import TestSupport
import Testing

@testable import HitCounterServer

/// The service as an attacker and a careless client try it, on the real binary and a real Redis:
/// raw-socket abuse, crafted keys and ids, many keys at once. Whatever they send, the answer is a 4xx
/// with a JSON error or a served request, never a 5xx; nothing acknowledged is lost; nothing is logged
/// at error; the service keeps serving. docs/reliability.md lists what was tried.
@Suite struct AdversarialTests {
    /// What a request may get: these statuses, and whether the connection must close after it.
    struct Expected: Sendable {
        let statuses: Set<Int>
        let closes: Bool
        /// A refusal's JSON error. Not for CONNECT: NIO's encoder sends every answer to a CONNECT
        /// without a body (RFC 9112 allows one only on 2xx, NIO drops it on all).
        var hasBody = true
    }

    static let refusedAndClosed = Expected(statuses: [400], closes: true)

    /// Requests no well-behaved client sends, each with what it must get.
    static let abuse: [(name: String, request: String, expected: Expected)] = {
        let host = "Host: x\r\n"
        func post(_ body: String, _ headers: String = "") -> String {
            "POST /hit HTTP/1.1\r\n\(host)\(headers)Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        }
        func get(_ target: String) -> String { "GET \(target) HTTP/1.1\r\n\(host)Connection: close\r\n\r\n" }
        let badRequest = Expected(statuses: [400], closes: false)
        return [
            // Framing and smuggling: NIO's parser refuses each; the connection closes.
            ("Content-Length and Transfer-Encoding", "POST /hit HTTP/1.1\r\n\(host)Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Self.refusedAndClosed),
            ("two Content-Lengths", "POST /hit HTTP/1.1\r\n\(host)Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcd", Self.refusedAndClosed),
            ("a negative Content-Length", "POST /hit HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\n", Self.refusedAndClosed),
            ("an enormous Content-Length", "POST /hit HTTP/1.1\r\n\(host)Content-Length: 99999999999999999999999\r\n\r\n", Self.refusedAndClosed),
            ("a folded header", "GET /healthz HTTP/1.1\r\n\(host)X: a\r\n b\r\n\r\n", Self.refusedAndClosed),
            ("a space before the colon", "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", Self.refusedAndClosed),
            ("a header without a colon", "GET /healthz HTTP/1.1\r\n\(host)Nonsense\r\n\r\n", Self.refusedAndClosed),
            ("bare line feeds", "GET /healthz HTTP/1.1\n\(host.dropLast(2))\n\n", Self.refusedAndClosed),
            ("a NUL in a header", "GET /healthz HTTP/1.1\r\n\(host)X: a\u{0}b\r\n\r\n", Self.refusedAndClosed),
            ("an unknown method", "FOO /hit HTTP/1.1\r\n\(host)\r\n", Self.refusedAndClosed),
            ("a lowercase method", "get /healthz HTTP/1.1\r\n\(host)\r\n", Self.refusedAndClosed),
            ("the HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Self.refusedAndClosed),
            ("HTTP/3.0", "GET /healthz HTTP/3.0\r\n\(host)\r\n", Self.refusedAndClosed),
            ("a bad chunk size", "POST /hit HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", Self.refusedAndClosed),
            ("a chunk longer than declared", "POST /hit HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n2\r\n{\"key\":1}\r\n0\r\n\r\n", Self.refusedAndClosed),
            ("CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n\(get("/healthz"))", Expected(statuses: [400], closes: true, hasBody: false)),
            ("no Host", "GET /healthz HTTP/1.1\r\n\r\n", Self.refusedAndClosed),
            ("two Hosts", "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Self.refusedAndClosed),
            ("a Host that is not a host", "GET /healthz HTTP/1.1\r\nHost: a/b?c\r\n\r\n", Self.refusedAndClosed),
            ("a Host with a user", "GET /healthz HTTP/1.1\r\nHost: user@a\r\n\r\n", Self.refusedAndClosed),
            ("an unknown expectation", "POST /hit HTTP/1.1\r\n\(host)Expect: 200-ok\r\nContent-Length: 0\r\n\r\n", Expected(statuses: [417], closes: true)),
            ("a request line over the header limit", get("/" + String(repeating: "a", count: 20_000)), Expected(statuses: [431], closes: true)),
            // Paths: only the routes answer, each as its table says.
            ("OPTIONS *", "OPTIONS * HTTP/1.1\r\n\(host)Connection: close\r\n\r\n", Expected(statuses: [404], closes: true)),
            ("an encoded slash", get("/%2Fhit"), Expected(statuses: [404], closes: true)),
            ("dot segments", get("/hits/../hit"), Expected(statuses: [404], closes: true)),
            ("the wrong method", "DELETE /hit HTTP/1.1\r\n\(host)Connection: close\r\n\r\n", Expected(statuses: [405], closes: true)),
            ("an absolute-form target", get("http://elsewhere.example/healthz"), Expected(statuses: [200], closes: true)),
            ("an h2c upgrade", "GET /healthz HTTP/1.1\r\n\(host)Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings, close\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", Expected(statuses: [200], closes: true)),
            // Parameters.
            ("a broken escape", get("/hits?key=%zz"), Expected(statuses: [400], closes: true)),
            ("bytes that are not UTF-8", get("/hits?key=%C3%28"), Expected(statuses: [400], closes: true)),
            ("raw bytes that are not UTF-8", "GET /hits?key=\u{FF} HTTP/1.1\r\n\(host)Connection: close\r\n\r\n", Expected(statuses: [400], closes: true)),
            ("a control character", get("/hits?key=a%00b"), Expected(statuses: [400], closes: true)),
            ("a key of 201 bytes", get("/hits?key=" + String(repeating: "k", count: 201)), Expected(statuses: [400], closes: true)),
            ("a parameter twice", get("/hits?key=a&key=b"), Expected(statuses: [400], closes: true)),
            ("an unknown parameter", get("/hits?kye=a"), Expected(statuses: [400], closes: true)),
            ("range 0", get("/hits?range=0"), Expected(statuses: [400], closes: true)),
            ("range beyond the maximum", get("/hits?range=86401"), Expected(statuses: [400], closes: true)),
            ("range huge", get("/hits?range=99999999999999999999999"), Expected(statuses: [400], closes: true)),
            ("unique neither true nor false", get("/hits?unique=1"), Expected(statuses: [400], closes: true)),
            ("count 0", post("", "X-Unused: 1\r\n").replacingOccurrences(of: "/hit ", with: "/hit?count=0 "), badRequest),
            ("count negative", post(#"{"count":-1}"#), badRequest),
            ("count over the maximum", post(#"{"count":10001}"#), badRequest),
            ("count a fraction", post(#"{"count":1.5}"#), badRequest),
            ("count a string", post(#"{"count":"5"}"#), badRequest),
            // Bodies.
            ("a body that is not JSON", post("key=home"), badRequest),
            ("a JSON array", post(#"[{"key":"a"}]"#), badRequest),
            ("JSON nested 4000 deep", post(String(repeating: "[", count: 4000)), badRequest),
            ("a name given twice", post(#"{"key":"a","k\u0065y":"b"}"#), badRequest),
            ("a name in both query and body", post(#"{"key":"a"}"#).replacingOccurrences(of: "/hit ", with: "/hit?key=b "), badRequest),
            ("a lone surrogate", post(#"{"key":"\ud800"}"#), badRequest),
            ("an escaped NUL", post(#"{"key":"a\u0000"}"#), badRequest),
            ("an id that is an object", post(#"{"id":{"a":1}}"#), badRequest),
            ("a callback not configured", post(#"{"callback":"http://169.254.169.254/"}"#), badRequest),
            ("a body over 4096 bytes", post(#"{"key":""# + String(repeating: "a", count: 5000) + #""}"#), Expected(statuses: [413], closes: false)),
        ]
    }()

    /// Each request of `abuse` on its own connection, with a good hit with an id between every two:
    /// each gets what it must, and afterwards every good hit is counted, exactly once.
    @Test func rawSocketAbuseGetsA4xxAndLosesNothing() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url])
            for (index, (name, request, expected)) in Self.abuse.enumerated() {
                let answer = try await rawExchange(port: server.port, request, timeout: .seconds(5))
                let response = try #require(answer.responses.first, "\(name): no answer")
                #expect(expected.statuses.contains(response.status), "\(name): \(response)")
                if response.status >= 400 && expected.hasBody {
                    #expect(response.body.hasPrefix(#"{"error":{"message":"#), "\(name): \(response)")
                }
                #expect(answer.responses.count == 1, "\(name): one answer: \(answer.responses)")
                if expected.closes { #expect(answer.closed, "\(name): the connection closes") }

                let good = try await rawExchange(port: server.port, "POST /hit?key=good&id=\(index) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(good.responses.first?.body == #"{"key":"good","count":1,"counted":true}"# + "\n", "after \(name)")
            }
            let counted = try await rawExchange(port: server.port, "GET /hits?key=good&unique=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(counted.responses.first?.body == #"{"key":"good","range":60,"unique":\#(Self.abuse.count)}"# + "\n")
            let refused = try await rawExchange(port: server.port, "GET /hits HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(refused.responses.first?.body == #"{"key":"default","range":60,"hits":0}"# + "\n", "no refused request counted")
            let errors = try server.jsonLog().filter { $0["level"] as? String == "error" }
            #expect(errors.isEmpty, "\(errors)")
        }
    }

    /// However a stream's connection or request ends (reset before the head goes out, reset between
    /// events, a half-close, a plain close, a stream kept past the idle timeout), its place comes back:
    /// afterwards the open-streams gauge is 0 and as many new streams as the cap allows get 200. A reset
    /// before the head leaked the place until a restart (the answer's body, which gave it back, never ran).
    @Test func aStreamsPlaceComesBackHoweverItsConnectionEnds() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url, "--max-streams", "2", "--idle-timeout", "1"])
            let request = "GET /stream?key=s HTTP/1.1\r\nHost: x\r\n\r\n"
            func streamsOpen() async throws -> Int? {
                // A new connection each time: with a 1 s idle timeout, a pooled one may be closing.
                let answer = try await rawExchange(port: server.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                let metrics = answer.responses.first?.body ?? ""
                let line = metrics.split(separator: "\n").first { $0.hasPrefix("hitcounter_streams_open ") }
                return line.flatMap { Double($0.split(separator: " ")[1]) }.map { Int($0) }
            }
            /// Waits (up to 10 s: a stream notices a gone client at its next write, once a second) for
            /// every place to be free, then fills the cap with new streams.
            func everyPlaceComesBack(after way: String) async throws {
                var open = try await streamsOpen()
                for _ in 0..<100 where open != 0 {
                    try await Task.sleep(for: .milliseconds(100))
                    open = try await streamsOpen()
                }
                #expect(open == 0, "after \(way): hitcounter_streams_open is \(open.map(String.init) ?? "missing")")
                let streams = try (0..<2).map { _ in try RawConnection(port: server.port) }
                for stream in streams {
                    try await stream.send(request)
                    let head = try await stream.receive(timeout: .seconds(10)) { $0.contains("\r\n\r\n") }.text
                    #expect(head.hasPrefix("HTTP/1.1 200 OK"), "after \(way): \(head)")
                }
                streams.forEach { $0.close() }
                for _ in 0..<100 where try await streamsOpen() != 0 { try await Task.sleep(for: .milliseconds(100)) }
            }

            // Reset as soon as the request is out: most of these land before the head is written.
            for _ in 0..<20 {
                let stream = try RawConnection(port: server.port)
                try await stream.send(request)
                stream.reset()
            }
            try await everyPlaceComesBack(after: "resets before the head")

            for _ in 0..<2 {
                let stream = try RawConnection(port: server.port)
                try await stream.send(request)
                _ = try await stream.receive(timeout: .seconds(10)) { $0.contains("event: hits") }
                stream.reset()
            }
            try await everyPlaceComesBack(after: "resets between events")

            for _ in 0..<2 {
                let stream = try RawConnection(port: server.port)
                try await stream.send(request)
                stream.shutdownWrite()
                _ = try await stream.receive(timeout: .seconds(10)) { $0.contains("\r\n\r\n") }
                stream.close()
            }
            try await everyPlaceComesBack(after: "half-closes")

            // Past the idle timeout (1 s), a stream goes on: the timeout is for idle connections.
            let long = try RawConnection(port: server.port)
            try await long.send(request)
            let received = try await long.receive(timeout: .seconds(10)) { try LiveViewRoutesTests.events($0).count >= 3 }
            #expect(try LiveViewRoutesTests.events(received.text).count >= 3, "\(received)")
            #expect(!received.closed)
            long.close()
            try await everyPlaceComesBack(after: "a stream kept past the idle timeout")

            let errors = try server.jsonLog().filter { $0["level"] as? String == "error" }
            #expect(errors.isEmpty, "\(errors)")
        }
    }

    /// What `Host` may hold (RFC 9112 3.2 with RFC 3986's grammar), and what it may not.
    @Test func hostValuesAreHostsAndMaybePorts() {
        for valid in ["", "x", "a.example:8080", "[::1]:80", "[2001:db8::1]", "127.0.0.1", "xn--bcher-kva.example", "a%41b", "a-b_c~d", "a:"] {
            #expect(HTTP1ConformanceHandler.isValidHost(valid), "\(valid)")
        }
        for invalid in ["a/b?c", "a b", "a:port", "[::1", "[]", "user@a", "a:123456", "a#b", "bücher.example", "a:80:80", "a%4"] {
            #expect(!HTTP1ConformanceHandler.isValidHost(invalid), "\(invalid)")
        }
    }

    /// HTTP/0.9 (`GET /` and nothing more, which NIO's parser would hold waiting for headers until the
    /// idle timeout) is answered 400 with a JSON error at once, and the connection closes; so is one
    /// that comes a byte at a time. A request line with a version still goes on.
    @Test func http09IsRefusedAtOnce() async throws {
        let server = try await ServerProcess(["--store", "memory", "--idle-timeout", "60"])
        for line in ["GET /\r\n", "GET /hits?key=a\n", "POST /hit\r\n"] {
            let started = ContinuousClock.now
            let answer = try await rawExchange(port: server.port, line, timeout: .seconds(10))
            #expect(answer.responses.map(\.status) == [400], "\(line.debugDescription)")
            #expect(answer.responses.first?.body.hasPrefix(#"{"error":{"message":"the request line has no HTTP version"#) == true)
            #expect(answer.closed)
            #expect(ContinuousClock.now - started < .seconds(10), "not at the idle timeout")
        }
        let slow = try RawConnection(port: server.port)
        for byte in "GET /healthz".utf8 { try await slow.send(String(UnicodeScalar(byte))) }
        try await slow.send("\r\n")
        let answer = try await slow.receive(timeout: .seconds(10)) { $0.contains("\r\n\r\n") }
        #expect(answer.text.hasPrefix("HTTP/1.1 400"), "\(answer.text)")
        let good = try await rawExchange(port: server.port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(good.responses.map(\.status) == [200])
    }

    /// A hundred requests in one write are answered in order, each exactly once.
    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        let requests = (0..<100).map { "POST /hit?key=p&id=\($0 % 50) HTTP/1.1\r\nHost: x\r\n\r\n" }.joined()
        let connection = try RawConnection(port: server.port)
        try await connection.send(requests + "GET /hits?key=p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let answers = parseResponses(try await connection.receive(timeout: .seconds(10)).text)
        #expect(answers.count == 101)
        #expect(answers.prefix(100).map { $0.body.hasSuffix(#""counted":true}"# + "\n") } == (0..<100).map { $0 < 50 })
        #expect(answers.last?.body == #"{"key":"p","range":60,"hits":50}"# + "\n")
    }

    /// Hot routes (answered beside the router, after a Redis round trip) and router routes pipelined
    /// on one connection while Redis is stalled, on a fresh Redis (the hit script's first call meets
    /// NOSCRIPT and goes again): each request is taken once the one before it is answered, so the
    /// answers leave in request order and the read at the end sees every hit before it.
    @Test func pipelinedHotAndRouterRequestsAreAnsweredInOrder() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url])
            let host = "Host: x\r\n"
            let requests = [
                "POST /hit?key=mix HTTP/1.1\r\n\(host)\r\n",  // hot
                "GET /healthz HTTP/1.1\r\n\(host)\r\n",  // router
                "POST /hit?key=mix&count=2 HTTP/1.1\r\n\(host)\r\n",  // hot
                "GET /nowhere HTTP/1.1\r\n\(host)\r\n",  // router: 404
                "POST /hit HTTP/1.1\r\n\(host)Content-Type: application/json\r\nContent-Length: 23\r\n\r\n{\"key\":\"mix\",\"count\":4}",  // router: a body
                "GET /hits?key=mix&range=0 HTTP/1.1\r\n\(host)\r\n",  // refused (range 0): router
                "GET /hits?key=mix HTTP/1.1\r\n\(host)Connection: close\r\n\r\n",  // hot
            ]
            try await HitCounterClient.ping("http://127.0.0.1:\(server.port)")
            try redis.stall(milliseconds: 300)
            let answers = try await rawExchange(port: server.port, requests.joined(), timeout: .seconds(10)).responses
            #expect(answers.map(\.status) == [200, 200, 200, 404, 200, 400, 200])
            #expect(answers.map(\.body) == [
                #"{"key":"mix","count":1,"counted":true}"# + "\n", #"{"status":"ok"}"# + "\n",
                #"{"key":"mix","count":2,"counted":true}"# + "\n", #"{"error":{"message":"no route for GET /nowhere"}}"# + "\n",
                #"{"key":"mix","count":4,"counted":true}"# + "\n", #"{"error":{"message":"range must be an integer from 1 to 86400"}}"# + "\n",
                #"{"key":"mix","range":60,"hits":7}"# + "\n",
            ])
        }
    }

    /// Keys and ids a client may craft (braces, escapes, separators, a byte-order mark, emoji), sent in
    /// the query or in a JSON body: each (key, id) counts once, on its own counter.
    @Test func craftedKeysAndIdsOverHTTPCountOnce() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url])
            let base = "http://127.0.0.1:\(server.port)"
            let pieces = ["{", "}", "%", "%7D", ":", "+", "&", "=", "#", "?", "/", " ", "é", "\u{FEFF}", "🙂", "id", "1", "u", "\""]
            let text = Gen.int(in: 0...(pieces.count - 1)).map { pieces[$0] }.array(of: 1...8).map { $0.joined() }
            var expected: [String: Int] = [:]
            var seen = Set<[String]>()
            try await HitCounterClient.ping(base)
            await propertyCheck(count: 150, input: text, text, Gen.bool) { key, id, inBody in
                let first = seen.insert([key, id]).inserted
                let answer = try await HitCounterClient.hit(base, key: key, id: id, inBody: inBody)
                #expect(answer == #"{"key":\#(JSONField.string(key).text),"count":1,"counted":\#(first)}"# + "\n", "\(key.debugDescription) / \(id.debugDescription)")
                if first { expected[key, default: 0] += 1 }
            }
            for (key, hits) in expected {
                let answer = try await HitCounterClient.get(base, "/hits?key=\(HitCounterClient.encoded(key))&unique=true")
                #expect(answer.hasSuffix(#""unique":\#(hits)}"# + "\n"), "\(key.debugDescription): \(answer)")
            }
        }
    }

    /// 4000 distinct keys, each hit twice by 32 concurrent clients: every answer is a 200 and every
    /// counter holds exactly its two hits.
    @Test func manyKeysAtOnceStayExact() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url])
            let base = "http://127.0.0.1:\(server.port)"
            let keys = (0..<4000).map { "many-\($0)" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<32 {
                    group.addTask {
                        for index in stride(from: worker, to: keys.count * 2, by: 32) {
                            let answer = try await HitCounterClient.hit(base, key: keys[index % keys.count], id: nil, inBody: index % 2 == 0)
                            #expect(answer.hasSuffix(#""counted":true}"# + "\n"), "\(answer)")
                        }
                    }
                }
                try await group.waitForAll()
            }
            // A day's window: under a sanitizer the hits take longer than a minute.
            for key in keys.shuffled().prefix(200) {
                #expect(try await HitCounterClient.get(base, "/hits?key=\(key)&range=86400").hasSuffix(#""hits":2}"# + "\n"), "\(key)")
            }
        }
    }
}

/// Plain HTTP calls for the adversarial tests.
enum HitCounterClient {
    /// Every byte but unreserved ones percent-encoded, as a strict client would.
    static func encoded(_ text: String) -> String {
        text.utf8.map { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                String(UnicodeScalar(byte))
            default:
                "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }.joined()
    }

    static func ping(_ base: String) async throws {
        _ = try await Self.get(base, "/readyz")
    }

    static func get(_ base: String, _ target: String) async throws -> String {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + target), timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 1 << 16))
    }

    /// `POST /hit` with the key (and id) in the query or in a JSON body; the answer's text.
    static func hit(_ base: String, key: String, id: String?, inBody: Bool) async throws -> String {
        var request: HTTPClientRequest
        if inBody {
            request = HTTPClientRequest(url: base + "/hit")
            var body = #"{"key":\#(JSONField.string(key).text)"#
            if let id { body += #","id":\#(JSONField.string(id).text)"# }
            request.body = .bytes(ByteBuffer(string: body + "}"))
            request.headers.add(name: "content-type", value: "application/json")
        } else {
            request = HTTPClientRequest(url: base + "/hit?key=\(Self.encoded(key))" + (id.map { "&id=\(Self.encoded($0))" } ?? ""))
        }
        request.method = .POST
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        return String(buffer: try await response.body.collect(upTo: 1 << 16))
    }
}
