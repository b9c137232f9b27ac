import Foundation
import HitCounter
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import HitCounterServer

/// The findings of the integrity issue, each reproduced against the real binary over raw sockets
/// (so no client tidies the request first), each answered as it should be now.
@Suite struct IntegrityTests {
    static let write = "write-token-0123456789"
    static let read = "read-token-0123456789"
    static let admin = "admin-token-0123456789"
    static let tokens = ["HITCOUNTER_WRITE_TOKEN": Self.write, "HITCOUNTER_READ_TOKEN": Self.read, "HITCOUNTER_ADMIN_TOKEN": Self.admin]

    static func request(_ method: String, _ target: String, token: String? = nil, version: String = "1.1", extra: String = "") -> String {
        let authorization = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
        return "\(method) \(target) HTTP/\(version)\r\nHost: x\r\n\(authorization)\(extra)Content-Length: 0\r\nConnection: close\r\n\r\n"
    }

    /// Access follows the route that matched, whatever spelling of its path matched it.
    @Test func everyRouteInEveryPathFormNeedsItsToken() async throws {
        let server = try await ServerProcess(["--store", "memory"], environment: Self.tokens)
        var counted = 0
        for route in Route.allCases {
            // The counter a reset names is part of its path.
            let name = route == .counters ? "counters/gone" : route.path.dropFirst()
            // A query each route takes (a reset takes none).
            let query = route == .top ? "range=60" : route == .keys ? "prefix=forms" : route == .counters ? "" : "key=forms"
            for form in ["/\(name)", "/\(name)/", "//\(name)", "/\(name)//", "///\(name)/?\(query)"] {
                for token in [nil, Self.read, Self.write, Self.admin] {
                    let allowed: Bool = switch route.access {
                    case nil: true
                    case .read: token == Self.read || token == Self.write
                    case .write: token == Self.write
                    case .admin: token == Self.admin
                    }
                    // A refusal closes the connection, so only an open stream waits the time out: long
                    // enough for its head from a debug build on two cores busy with every other suite.
                    let timeout: Duration = route == .stream && allowed ? .seconds(2) : .seconds(5)
                    let answer = try await rawExchange(port: server.port, Self.request(route.method.rawValue, form, token: token), timeout: timeout)
                    let status = answer.responses.first?.status
                    // A batch without a body is refused for that, once the token let it through.
                    let expected = allowed ? (route == .batch ? 400 : 200) : 401
                    #expect(status == expected, "\(route.method) \(form) with \(token ?? "no token"): \(answer)")
                    if (route == .hit || route == .countPixel) && allowed { counted += 1 }
                }
            }
        }
        let total = try await rawExchange(port: server.port, Self.request("GET", "/hits?range=60", token: Self.read))
        let forms = try await rawExchange(port: server.port, Self.request("GET", "/hits?key=forms", token: Self.read))
        #expect(total.responses.first?.body == #"{"key":"default","range":60,"hits":8}"# + "\n")
        #expect(forms.responses.first?.body == #"{"key":"forms","range":60,"hits":2}"# + "\n")
        #expect(counted == 10, "the write token, in each of the five forms, on the hit and the pixel")
    }

    /// Chunked bodies that break HTTP/1.1 are the client's fault: 400, the connection closes, nothing
    /// is counted and nothing is logged at error.
    @Test func malformedChunkedBodiesGet400() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        let head = "POST /hit HTTP/1.1\r\nHost: x\r\n"
        let cases = [
            "bad size": head + "Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
            "negative size": head + "Transfer-Encoding: chunked\r\n\r\n-2\r\nab\r\n0\r\n\r\n",
            "overflowing size": head + "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\nab\r\n0\r\n\r\n",
            "more bytes than declared": head + "Transfer-Encoding: chunked\r\n\r\n2\r\n{\"key\":1}\r\n0\r\n\r\n",
            "unknown coding": head + "Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ]
        for (name, request) in cases {
            let answer = try await rawExchange(port: server.port, request)
            let response = try #require(answer.responses.first, "\(name): no answer")
            #expect(response.status == 400, "\(name): \(response)")
            #expect(response.body.hasPrefix(#"{"error":{"message":"#), "\(name): \(response)")
            #expect(answer.closed, "\(name)")
        }
        let hits = try await rawExchange(port: server.port, Self.request("GET", "/hits"))
        #expect(hits.responses.first?.body == #"{"key":"default","range":60,"hits":0}"# + "\n")
        #expect(try server.jsonLog().filter { $0["level"] as? String == "error" }.isEmpty, "\(server.log)")
    }

    /// HEAD answers where `Allow` says it does, with GET's headers and no body; every method `Allow`
    /// names is answered; the stream refuses HEAD.
    @Test func headIsAnsweredWhereAllowSaysSo() async throws {
        try await withRedisServer { redis in
            let server = try await ServerProcess(["--redis-url", redis.url], environment: ["HITCOUNTER_ADMIN_TOKEN": Self.admin])
            for route in Route.allCases {
                let timeout: Duration = route == .stream ? .milliseconds(500) : .seconds(5)
                let wrong = route.method == .get ? "POST" : "GET"
                let path = route == .counters ? "/counters/x" : route.path
                let token = route.access == .admin ? Self.admin : nil
                let refused = try #require(try await rawExchange(port: server.port, Self.request(wrong, path, token: token)).responses.first)
                #expect(refused.status == 405, "\(wrong) \(path)")
                let allowed = try #require(refused.header("allow")).components(separatedBy: ", ")
                #expect(allowed == route.methods.map(\.rawValue))
                for method in allowed {
                    let answer = try #require(
                        try await rawExchange(port: server.port, Self.request(method, path, token: token), timeout: timeout).responses.first
                    )
                    // A batch without its body is refused for that.
                    #expect(answer.status == (route == .batch ? 400 : 200), "\(method) \(path): \(answer)")
                    if method == "HEAD" {
                        let get = try #require(
                            try await rawExchange(port: server.port, Self.request("GET", path, token: token), timeout: timeout).responses.first
                        )
                        #expect(answer.body.isEmpty)
                        #expect(answer.header("content-type") == get.header("content-type"))
                        // A metrics page's length changes between two requests.
                        if route != .metrics {
                            #expect(answer.header("content-length") == get.header("content-length"), "\(route.path)")
                        }
                    }
                }
                // A stream's GET answer has no length and no end for a HEAD to tell: HEAD is refused.
                if route == .stream {
                    let head = try #require(try await rawExchange(port: server.port, Self.request("HEAD", path)).responses.first)
                    #expect(head.status == 405 && head.header("allow") == "GET", "\(head)")
                }
            }
        }
    }

    /// An HTTP/1.0 request without keep-alive gets `Connection: close` and the connection closes; one
    /// with keep-alive gets `Connection: keep-alive` and may send another.
    @Test func http10ConnectionsCloseUnlessKeptAlive() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        let once = try await rawExchange(port: server.port, "GET /healthz HTTP/1.0\r\n\r\n")
        #expect(once.responses.first?.status == 200)
        #expect(once.responses.first?.header("connection") == "close")
        #expect(once.closed)

        let kept = try RawConnection(port: server.port)
        try await kept.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        // Reads until the whole answer came (a machine busy with the other suites may take seconds);
        // the second request on the same connection shows it was kept open.
        let first = try await kept.receive(timeout: .seconds(30)) { parseResponses($0).first?.body.hasSuffix("\n") == true }
        #expect(!first.closed)
        #expect(parseResponses(first.text).first?.header("connection") == "keep-alive")
        try await kept.send("GET /healthz HTTP/1.0\r\n\r\n")
        let second = try await kept.receive(timeout: .seconds(5))
        #expect(parseResponses(second.text).first?.status == 200)
        #expect(second.closed)
    }

    /// A key's bytes are the key: a leading byte-order mark is kept in the query as in a JSON body.
    @Test func aByteOrderMarkIsPartOfTheKeyInQueryAndBody() async throws {
        try await testApplication().test(.router) { client in
            try await client.execute(uri: "/hit?key=%EF%BB%BFbomk", method: .post) {
                #expect($0.text == "{\"key\":\"\u{FEFF}bomk\",\"count\":1,\"counted\":true}\n")
            }
            try await client.execute(uri: "/hit", method: .post, body: ByteBuffer(string: #"{"key":"\ufeffbomk"}"#)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/hits?key=%EF%BB%BFbomk", method: .get) { #expect($0.text.hasSuffix(#""hits":2}"# + "\n")) }
            try await client.execute(uri: "/hits?key=bomk", method: .get) { #expect($0.text.hasSuffix(#""hits":0}"# + "\n")) }
            // Bytes that are not UTF-8 are refused, percent-encoded or not.
            try await client.execute(uri: "/hit?key=%FFk", method: .post) { #expect($0.status == .badRequest) }
        }
    }

    /// The scheme is case-insensitive. Whitespace after the token never reaches the service (the
    /// parser drops it, as RFC 9110 5.5 says field values exclude it), so it is accepted; anything
    /// else after the token is refused.
    @Test func bearerSchemeIsCaseInsensitiveAndTheTokenIsExact() async throws {
        let server = try await ServerProcess(["--store", "memory"], environment: Self.tokens)
        for (value, status) in [
            ("bearer \(Self.write)", 200), ("BEARER \(Self.write)", 200), ("Bearer  \(Self.write)", 200), ("Bearer \(Self.write)\t", 200),
            ("Bearer \(Self.write) ", 200), ("Bearer \(Self.write) x", 401), ("Bearer\t\(Self.write)", 401), ("Basic \(Self.write)", 401),
            ("Bearer", 401), (Self.write, 401),
        ] {
            let answer = try await rawExchange(port: server.port, Self.request("POST", "/hit", extra: "Authorization: \(value)\r\n"))
            #expect(answer.responses.first?.status == status, "Authorization: \(value.debugDescription)")
        }
    }

    /// `Expect: 100-continue` gets its 100 before the body is sent; an expectation the service cannot
    /// meet gets 417.
    @Test func expectContinueIsAnswered() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        let connection = try RawConnection(port: server.port)
        try await connection.send("POST /hit HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 14\r\n\r\n")
        // Waits for the whole interim head (a loaded machine may take seconds), then sends the body.
        let interim = try await connection.receive(timeout: .seconds(30)) { $0.contains("\r\n\r\n") }
        #expect(interim.text.hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(interim.text)")
        try await connection.send(#"{"key":"exp"}"# + " ")
        let final = try await connection.receive(timeout: .seconds(30)) { $0.hasSuffix("}\n") }
        #expect(parseResponses(final.text).first?.status == 200, "\(final.text)")
        #expect(parseResponses(final.text).first?.body == #"{"key":"exp","count":1,"counted":true}"# + "\n")

        let refused = try await rawExchange(port: server.port, Self.request("POST", "/hit", extra: "Expect: something-else\r\n"))
        #expect(refused.responses.first?.status == 417)
        #expect(refused.closed)
    }

    /// HTTP/1.1 needs exactly one Host (RFC 9112 3.2); HTTP/1.0 may send none.
    @Test func hostMustBeOneForHTTP11() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        let none = try await rawExchange(port: server.port, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
        #expect(none.responses.first?.status == 400)
        #expect(none.responses.first?.body == #"{"error":{"message":"an HTTP/1.1 request needs a Host header"}}"# + "\n")
        let two = try await rawExchange(port: server.port, "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        #expect(two.responses.first?.status == 400)
        #expect(two.closed)
        let old = try await rawExchange(port: server.port, "GET /healthz HTTP/1.0\r\n\r\n")
        #expect(old.responses.first?.status == 200)
        // Pipelined: the refusal waits for the answer before it.
        let pipelined = try await rawExchange(port: server.port, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n")
        #expect(pipelined.responses.map(\.status) == [200, 400])
    }

    /// Redis at maxmemory (noeviction): hits get 503, readiness says so, and the log says it once at
    /// warning, then once at info when Redis takes writes again.
    @Test func aFullRedisMakesTheServiceNotReadyAndIsLogged() async throws {
        try await withRedisServer(arguments: ["--maxmemory-policy", "noeviction"]) { redis in
            let server = try await ServerProcess(["--redis-url", redis.url])
            #expect(try await rawExchange(port: server.port, Self.request("GET", "/readyz")).responses.first?.status == 200)
            try redis.cli(["CONFIG", "SET", "maxmemory", "1"])
            for _ in 0..<3 {
                #expect(try await rawExchange(port: server.port, Self.request("POST", "/hit")).responses.first?.status == 503)
            }
            #expect(try await rawExchange(port: server.port, Self.request("GET", "/readyz")).responses.first?.status == 503)
            try redis.cli(["CONFIG", "SET", "maxmemory", "0"])
            #expect(try await rawExchange(port: server.port, Self.request("GET", "/readyz")).responses.first?.status == 200)
            #expect(try await rawExchange(port: server.port, Self.request("POST", "/hit")).responses.first?.status == 200)
            let log = try server.jsonLog()
            let down = log.filter { $0["message"] as? String == "Redis is not serving; requests get 503 until it does" }
            #expect(down.count == 1)
            #expect(down.first?["level"] as? String == "warning")
            #expect((down.first?["redis.error"] as? String)?.contains("OOM") == true)
            let back = log.filter { $0["message"] as? String == "Redis is serving again" }
            #expect(back.count == 1)
            #expect(back.first?["failed_calls"] as? String == "4")
        }
    }
}
