import Foundation
import HTTPTypes
import HitCounter
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

@testable import HitCounterServer

/// Counting from web pages: CORS with separate origins for counting and reading, beacons' `text/plain`
/// bodies, public counters without a token, Do-Not-Track, the pixel, the script and the badge.
@Suite struct WebCountingTests {
    static let page = "https://blog.example"
    static let reader = "https://stats.example"
    static let write = "write-token-0123456789"

    /// A service with a write token, `page:` counters public, pages on `page` allowed to count and
    /// pages on `reader` allowed to read.
    static func app(_ configure: (inout ServerSettings) -> Void = { _ in }) throws -> some ApplicationProtocol {
        try testApplication { settings in
            settings.tokens.write = Array(Self.write.utf8)
            settings.tokens.read = Array("read-token-0123456789".utf8)
            settings.tokens.publicKeyPrefixes = ["page:"]
            settings.web.countOrigins = .exactly([Self.page])
            settings.web.readOrigins = .exactly([Self.reader])
            configure(&settings)
        }
    }

    static func hits(_ client: some TestClientProtocol, _ key: String) async throws -> Int {
        try await client.execute(uri: "/hits?key=\(key)", method: .get, headers: [.authorization: "Bearer \(Self.write)"]) { response in
            try #require(LiveViewRoutesTests.json(response.text)["hits"] as? Int)
        }
    }

    @Test func preflightsAreAnsweredForAllowedOriginsOnly() async throws {
        try await Self.app().test(.router) { client in
            let preflight: HTTPFields = [.origin: Self.page, .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "content-type"]
            try await client.execute(uri: "/hit", method: .options, headers: preflight) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowOrigin] == Self.page)
                #expect(response.headers[.accessControlAllowMethods] == "POST")
                #expect(response.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
                #expect(response.headers[.vary] == "Origin")
                #expect(response.headers[.accessControlAllowCredentials] == nil, "credentials are never allowed")
            }
            // The counting origin may not read; the reading origin may not count.
            for (origin, path, method) in [(Self.page, "/hits", "GET"), (Self.reader, "/hit", "POST"), ("https://evil.example", "/hit", "POST")] {
                try await client.execute(uri: path, method: .options, headers: [.origin: origin, .accessControlRequestMethod: method]) { response in
                    #expect(response.status == .forbidden, "\(origin) \(path)")
                    #expect(response.headers[.accessControlAllowOrigin] == nil)
                    #expect(response.text.contains(origin))
                }
            }
            try await client.execute(uri: "/hits", method: .options, headers: [.origin: Self.reader, .accessControlRequestMethod: "GET"]) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowMethods] == "GET, HEAD")
            }
            // Admin and the page allow no other origin.
            try await client.execute(uri: "/metrics", method: .options, headers: [.origin: Self.page, .accessControlRequestMethod: "GET"]) {
                #expect($0.status == .forbidden)
            }
        }
    }

    /// `navigator.sendBeacon(url, JSON.stringify({key}))`: a `text/plain` body, an `Origin`, no token.
    @Test func aBeaconOnAPublicCounterCountsFromAnAllowedOriginOnly() async throws {
        try await Self.app().test(.router) { client in
            let beacon: HTTPFields = [.origin: Self.page, .contentType: "text/plain;charset=UTF-8"]
            try await client.execute(uri: "/hit", method: .post, headers: beacon, body: ByteBuffer(string: #"{"key":"page:/about"}"#)) { response in
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.headers[.accessControlAllowOrigin] == Self.page)
                #expect(response.text == #"{"key":"page:/about","count":1,"counted":true}"# + "\n")
            }
            // Another origin: refused before anything is counted, and it says why.
            let elsewhere: HTTPFields = [.origin: "https://evil.example", .contentType: "text/plain"]
            try await client.execute(uri: "/hit", method: .post, headers: elsewhere, body: ByteBuffer(string: #"{"key":"page:/about"}"#)) { response in
                #expect(response.status == .forbidden)
                #expect(response.text.contains("--cors-origins"))
            }
            // Without a token: public counters only, one hit at a time, no callback.
            for body in [#"{"key":"private"}"#, #"{"key":"page:/about","count":2}"#] {
                try await client.execute(uri: "/hit", method: .post, headers: beacon, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .unauthorized, "\(body)")
                    #expect(response.headers[.accessControlAllowOrigin] == Self.page, "the page can read why")
                }
            }
            // No batches without the token, public counters or not.
            try await client.execute(uri: "/hit/batch", method: .post, headers: beacon, body: ByteBuffer(string: #"[{"key":"page:/about"}]"#)) {
                #expect($0.status == .unauthorized)
            }
            // With the token, any counter and count.
            try await client.execute(uri: "/hit?key=private&count=3", method: .post, headers: [.authorization: "Bearer \(Self.write)"]) {
                #expect($0.status == .ok)
            }
            #expect(try await Self.hits(client, "page:/about") == 1)
            #expect(try await Self.hits(client, "private") == 3)
            // Reads of a public counter need no token either; others do.
            try await client.execute(uri: "/hits?key=page:/about", method: .get, headers: [.origin: Self.reader]) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.accessControlAllowOrigin] == Self.reader)
            }
            try await client.execute(uri: "/hits?key=private", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/series?key=page:/about", method: .get) { #expect($0.status == .ok) }
        }
    }

    /// What a client without a token can make the service keep is bounded: no ids (an id is a key kept
    /// for a day), and at most the quota of distinct new counters per public prefix per minute (a 429
    /// with `Retry-After` beyond it), through `POST /hit` and the pixel alike. A counter admitted this
    /// minute counts again, and a token is never held to the quota.
    @Test func anonymousCountingIsBounded() async throws {
        // The quota's minute is the wall clock's: start early in one, so the test does not straddle two.
        while Int(Date().timeIntervalSince1970) % 60 > 50 { try await Task.sleep(for: .seconds(1)) }
        try await Self.app { $0.web.publicCountersPerMinute = 3 }.test(.router) { client in
            for path in ["/hit?key=page:a&id=1", "/count.gif?key=page:a&id=1"] {
                try await client.execute(uri: path, method: path.hasPrefix("/hit") ? .post : .get) { response in
                    #expect(response.status == .unauthorized, "\(path)")
                    #expect(response.text.contains("no id"), "\(path): \(response.text)")
                }
            }
            for key in ["page:a", "page:b", "page:c", "page:a"] {
                try await client.execute(uri: "/hit?key=\(key)", method: .post) { #expect($0.status == .ok, "\(key)") }
            }
            for (path, method) in [("/hit?key=page:d", HTTPRequest.Method.post), ("/count.gif?key=page:e", .get)] {
                try await client.execute(uri: path, method: method) { response in
                    #expect(response.status == .tooManyRequests, "\(path)")
                    #expect(response.text.hasPrefix(#"{"error":{"message":"too many distinct public counters under \"page:\" this minute"#), "\(response.text)")
                    #expect(Int(response.headers[.retryAfter] ?? "").map { (1...60).contains($0) } == true)
                }
            }
            // Counted this minute already: counts again.
            try await client.execute(uri: "/count.gif?key=page:b", method: .get) { #expect($0.status == .ok) }
            // With the token: any counter, ids included.
            try await client.execute(uri: "/hit?key=page:f&id=1", method: .post, headers: [.authorization: "Bearer \(Self.write)"]) {
                #expect($0.status == .ok)
            }
            #expect(try await Self.hits(client, "page:a") == 2)
            #expect(try await Self.hits(client, "page:d") == 0)
            #expect(try await Self.hits(client, "page:e") == 0)
            #expect(try await Self.hits(client, "page:f") == 1)
        }
    }

    @Test func withoutCORSSettingsNoOtherOriginCountsAndTheServicesOwnPageStillMay() async throws {
        try await testApplication().test(.live) { client in
            try await client.execute(uri: "/hit?key=a", method: .post, headers: [.origin: "https://elsewhere.example"]) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.accessControlAllowOrigin] == nil)
            }
            try await client.execute(uri: "/hits?key=a", method: .get, headers: [.origin: "https://elsewhere.example"]) { response in
                #expect(response.status == .ok, "a read is harmless; the browser keeps its answer from the page")
                #expect(response.headers[.accessControlAllowOrigin] == nil)
            }
            try await client.execute(uri: "/hits?key=a", method: .get) { response in
                let hits = try LiveViewRoutesTests.json(response.text)["hits"] as? Int
                #expect(hits == 0)
            }
        }
        try await testApplication { $0.web.countOrigins = .any }.test(.router) { client in
            try await client.execute(uri: "/hit?key=a", method: .post, headers: [.origin: "https://anywhere.example"]) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.accessControlAllowOrigin] == "*")
                #expect(response.headers[.vary] == nil)
            }
            // The same on every answer of the route, with or without an Origin: nothing to vary.
            try await client.execute(uri: "/hit?key=a", method: .post) { response in
                #expect(response.headers[fields: .accessControlAllowOrigin].map(\.value) == ["*"])
                #expect(response.headers[.vary] == nil)
            }
        }
    }

    /// The service's own page (`GET /`) is its own origin: its `Host`. Over raw HTTP, as a browser sends it.
    @Test func aPageOfTheServiceItselfMayCount() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        func post(origin: String) async throws -> Int? {
            let request = "POST /hit?key=own HTTP/1.1\r\nHost: counter.example:8080\r\nOrigin: \(origin)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            return try await rawExchange(port: server.port, request).responses.first?.status
        }
        #expect(try await post(origin: "https://counter.example:8080") == 200)
        #expect(try await post(origin: "https://counter.example:8081") == 403, "another port is another origin")
        #expect(try await post(origin: "https://other.example") == 403)
    }

    /// On a route pages may call, every answer says `Vary: Origin` (allowed origin or not, with an
    /// `Origin` or without, a success or a refusal), on the hot path too, so a shared cache never hands
    /// one origin's answer to another; routes no page may call do not.
    @Test func everyAnswerOfARoutePagesMayCallVariesByOrigin() async throws {
        let server = try await ServerProcess(["--store", "memory", "--cors-read-origins", Self.reader, "--cors-origins", Self.page])
        func vary(_ request: String) async throws -> (status: Int?, vary: String?, allow: String?) {
            let response = try await rawExchange(port: server.port, request + "Host: x\r\nConnection: close\r\n\r\n").responses.first
            return (response?.status, response?.header("vary"), response?.header("access-control-allow-origin"))
        }
        let cases: [(String, Int, String?)] = [
            ("GET /hits?key=a HTTP/1.1\r\n", 200, nil),  // the hot path
            ("POST /hit?key=a HTTP/1.1\r\n", 200, nil),  // the hot path
            ("GET /hits?key=a HTTP/1.1\r\nOrigin: \(Self.reader)\r\n", 200, Self.reader),
            ("GET /hits?key=a HTTP/1.1\r\nOrigin: https://other.example\r\n", 200, nil),
            ("GET /hits?range=0 HTTP/1.1\r\n", 400, nil),
            ("GET /series?key=a HTTP/1.1\r\nOrigin: https://other.example\r\n", 200, nil),
            ("POST /hit?key=a HTTP/1.1\r\nOrigin: https://other.example\r\n", 403, nil),
        ]
        for (request, status, allowed) in cases {
            let answer = try await vary(request)
            #expect(answer.status == status && answer.vary == "Origin" && answer.allow == allowed, "\(request): \(answer)")
        }
        #expect(try await vary("GET /healthz HTTP/1.1\r\n").vary == nil)
        let plain = try await ServerProcess(["--store", "memory"])
        let answer = try await rawExchange(port: plain.port, "GET /hits HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").responses.first
        #expect(answer?.header("vary") == nil, "without CORS settings nothing varies")
    }

    @Test func doNotTrackSkipsAnonymousHitsWhenTheOperatorSaysSo() async throws {
        try await Self.app { $0.web.respectsDoNotTrack = true }.test(.router) { client in
            for header: HTTPField.Name in [.dnt, .secGPC] {
                try await client.execute(uri: "/hit?key=page:/x", method: .post, headers: [header: "1"]) { response in
                    #expect(response.status == .ok)
                    #expect(response.text.contains(#""counted":false"#))
                }
                try await client.execute(uri: "/count.gif?key=page:/x", method: .get, headers: [header: "1"]) { #expect($0.status == .ok) }
            }
            // A client with the token is not a tracked browser: it counts.
            try await client.execute(uri: "/hit?key=page:/x", method: .post, headers: [.dnt: "1", .authorization: "Bearer \(Self.write)"]) {
                #expect($0.text.contains(#""counted":true"#))
            }
            #expect(try await Self.hits(client, "page:/x") == 1)
            // Any other Authorization (a wrong bearer, the read token, another scheme) is no reason to count.
            for authorization in ["Bearer wrong-token-0123456789", "Bearer read-token-0123456789", "Basic dXNlcjpwYXNz", "Bearer"] {
                try await client.execute(uri: "/hit?key=page:/x", method: .post, headers: [.dnt: "1", .authorization: authorization]) {
                    #expect($0.text.contains(#""counted":false"#), "\(authorization)")
                }
            }
            #expect(try await Self.hits(client, "page:/x") == 1)
            try await client.execute(uri: "/count.js", method: .get) { #expect($0.text.contains("if (true && (navigator.doNotTrack")) }
        }
        // With no write token set, a browser's hit carries none either: still skipped.
        try await testApplication { $0.web.respectsDoNotTrack = true }.test(.live) { client in
            try await client.execute(uri: "/hit?key=open", method: .post, headers: [.secGPC: "1"]) { #expect($0.text.contains(#""counted":false"#)) }
            try await client.execute(uri: "/hit?key=open", method: .post) { #expect($0.text.contains(#""counted":true"#)) }
        }
    }

    @Test func thePixelCountsAndIsNeverCached() async throws {
        try await Self.app().test(.router) { client in
            for _ in 0..<3 {
                try await client.execute(uri: "/count.gif?key=page:/pixel", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "image/gif")
                    #expect(response.headers[.cacheControl]?.contains("no-store") == true)
                    let bytes = Array(response.body.readableBytesView)
                    #expect(bytes.count == 43 && bytes.starts(with: Array("GIF89a".utf8)) && bytes.last == 0x3B, "a whole 1x1 GIF")
                }
            }
            #expect(try await Self.hits(client, "page:/pixel") == 3)
            // An id is kept for a day: it takes the token (or a service with no write token).
            try await client.execute(uri: "/count.gif?key=page:/pixel&id=view-1", method: .get) { #expect($0.status == .unauthorized) }
            let token: HTTPFields = [.authorization: "Bearer \(Self.write)"]
            try await client.execute(uri: "/count.gif?key=page:/pixel&id=view-1", method: .get, headers: token) { #expect($0.status == .ok) }
            try await client.execute(uri: "/count.gif?key=page:/pixel&id=view-1", method: .get, headers: token) { #expect($0.status == .ok) }
            #expect(try await Self.hits(client, "page:/pixel") == 4, "an id counts once")
            try await client.execute(uri: "/count.gif?key=page:/pixel", method: .head) { #expect($0.status == .ok) }
            #expect(try await Self.hits(client, "page:/pixel") == 4, "HEAD asks about the image and counts nothing")
            try await client.execute(uri: "/count.gif?key=private", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/count.gif?key=page:/pixel&count=5", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect(response.text.hasPrefix(#"{"error":{"message":"count is not a parameter"#))
            }
        }
    }

    @Test func theScriptSendsABeaconToItsOwnService() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/count.js", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/javascript; charset=utf-8")
                #expect(response.text.contains("navigator.sendBeacon(url, body)"))
                #expect(response.text.contains(#"new URL("/hit", script.src)"#))
                #expect(response.text.contains("if (false && "), "Do-Not-Track is off unless the operator turns it on")
            }
        }
    }

    final class XMLCheck: NSObject, XMLParserDelegate {
        var texts: [String] = []
        func parser(_ parser: XMLParser, foundCharacters string: String) { self.texts.append(string) }
    }

    @Test func theBadgeIsWellFormedEscapedAndRevalidated() async throws {
        try await Self.app().test(.router) { client in
            try await client.execute(uri: "/hit?key=page:/readme&count=1234", method: .post, headers: [.authorization: "Bearer \(Self.write)"]) {
                #expect($0.status == .ok)
            }
            let label = #"<b>&"'s"#
            let encoded = label.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let tag = try await client.execute(uri: "/badge.svg?key=page:/readme&label=\(encoded)&range=3600", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "image/svg+xml; charset=utf-8")
                #expect(response.headers[.cacheControl] == "no-cache")
                #expect(!response.text.contains("<b>"), "the label is escaped")
                let parser = XMLParser(data: Data(response.text.utf8))
                let check = XMLCheck()
                parser.delegate = check
                #expect(parser.parse(), "well-formed XML: \(response.text)")
                #expect(check.texts.joined().contains(label + "1,234"), "the label and the count read back as sent: \(check.texts)")
                return try #require(response.headers[.eTag])
            }
            // Compared weakly (a proxy that compressed it sends W/ back), in a list, or `*`.
            for ifNoneMatch in [tag, "W/\(tag)", "\"other\", W/\(tag)", "*"] {
                try await client.execute(uri: "/badge.svg?key=page:/readme&label=\(encoded)&range=3600", method: .get, headers: [.ifNoneMatch: ifNoneMatch]) {
                    #expect($0.status == .notModified, "\(ifNoneMatch)")
                    #expect($0.body.readableBytes == 0)
                }
            }
            try await client.execute(uri: "/badge.svg?key=page:/readme&label=\(encoded)&range=3600", method: .get, headers: [.ifNoneMatch: "W/\"other\""]) {
                #expect($0.status == .ok)
            }
            // A label is at most 64 scalars, so combining marks do not stack without end; bidi controls go.
            let stacked = "a" + String(repeating: "\u{0301}", count: 64)
            try await client.execute(uri: "/badge.svg?key=page:/readme&label=\(stacked.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)", method: .get) {
                #expect($0.status == .badRequest, "one character, 65 scalars")
            }
            let reversed = "\u{202E}evil\u{202C}\u{2066}x\u{2069}"
            try await client.execute(uri: "/badge.svg?key=page:/readme&label=\(reversed.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)", method: .get) {
                #expect($0.status == .ok)
                #expect($0.text.contains(">evilx<") && !$0.text.unicodeScalars.contains { (0x202A...0x202E).contains($0.value) || (0x2066...0x2069).contains($0.value) })
            }
            try await client.execute(uri: "/badge.svg?key=page:/readme", method: .get) { #expect($0.text.contains(">views<")) }
            try await client.execute(uri: "/badge.svg?key=private", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/badge.svg?key=page:/readme&label=", method: .get) { #expect($0.status == .badRequest) }
        }
    }
}
