import HitCounter
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import HitCounterServer

/// The HTTP API on the in-process store: what a client sends and what it gets back, byte for byte.
@Suite struct APITests {
    @Test func countsHitsFromTheQueryAndFromAJSONBody() async throws {
        try await testApplication().test(.router) { client in
            try await client.execute(uri: "/hit", method: .post) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                #expect(response.text == #"{"key":"default","count":1,"counted":true}"# + "\n")
            }
            try await client.execute(uri: "/hit?key=home&count=5", method: .post) { response in
                #expect(response.text == #"{"key":"home","count":5,"counted":true}"# + "\n")
            }
            try await client.execute(uri: "/hit", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"key":"home","count":3}"#)) {
                #expect($0.text == #"{"key":"home","count":3,"counted":true}"# + "\n")
            }
            // curl -d sends form encoding; the body is still read as JSON.
            try await client.execute(uri: "/hit?count=2", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: #"{"key":"home"}"#)) {
                #expect($0.text == #"{"key":"home","count":2,"counted":true}"# + "\n")
            }
            try await client.execute(uri: "/hits?key=home", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.text == #"{"key":"home","range":60,"hits":10}"# + "\n")
            }
            try await client.execute(uri: "/hits?range=86400", method: .get) { #expect($0.text == #"{"key":"default","range":86400,"hits":1}"# + "\n") }
            try await client.execute(uri: "/hits?key=nobody&range=1", method: .get) { #expect($0.text == #"{"key":"nobody","range":1,"hits":0}"# + "\n") }
        }
    }

    @Test func keysAreUTF8AndComeBackEscaped() async throws {
        try await testApplication().test(.router) { client in
            try await client.execute(uri: "/hit?key=caf%C3%A9%20%22%E2%9C%93%22", method: .post) {
                #expect($0.text == #"{"key":"café \"✓\"","count":1,"counted":true}"# + "\n")
            }
            let twoHundredBytes = String(repeating: "é", count: 100)
            try await client.execute(uri: "/hit", method: .post, body: ByteBuffer(string: #"{"key":"\#(twoHundredBytes)"}"#)) {
                #expect($0.status == .ok)
            }
            try await client.execute(uri: "/hits?key=caf%C3%A9+%22%E2%9C%93%22", method: .get) { #expect($0.text.hasSuffix(#""hits":1}"# + "\n")) }
        }
    }

    /// `1`, `1.0`, `1e0` and `"1"` (in a body) and `1` (in a query) are one id: the first counts, the rest do not.
    @Test func anIdIsItsDigitsWhateverItsJSONSpelling() async throws {
        try await testApplication().test(.router) { client in
            var counted: [Bool] = []
            for body in [#"{"key":"i","id":1}"#, #"{"key":"i","id":1.0}"#, #"{"key":"i","id":1e0}"#, #"{"key":"i","id":"1"}"#] {
                try await client.execute(uri: "/hit", method: .post, body: ByteBuffer(string: body)) { counted.append($0.text.contains(#""counted":true"#)) }
            }
            try await client.execute(uri: "/hit?key=i&id=1", method: .post) { counted.append($0.text.contains(#""counted":true"#)) }
            #expect(counted == [true, false, false, false, false])
        }
    }

    @Test func healthAndReadiness() async throws {
        try await testApplication().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.text == #"{"status":"ok"}"# + "\n") }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.text == #"{"status":"ready"}"# + "\n") }
        }
    }

    @Test func namesTheInstanceWhenConfigured() async throws {
        try await testApplication { $0.serverName = "replica-2" }.test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.headers[.servedBy] == "replica-2") }
            try await client.execute(uri: "/nope", method: .get) { #expect($0.headers[.servedBy] == "replica-2") }
        }
    }

    /// An id counts once: the answer says whether this call counted; `unique=true` reads distinct ids.
    @Test func idsCountOnceAndUniqueReadsThem() async throws {
        try await testApplication().test(.router) { client in
            for (uri, answer) in [
                ("/hit?key=home&id=r1", #"{"key":"home","count":1,"counted":true}"#),
                ("/hit?key=home&id=r1", #"{"key":"home","count":1,"counted":false}"#),
                ("/hit?key=home&id=r2&count=4", #"{"key":"home","count":4,"counted":true}"#),
                ("/hit?key=home", #"{"key":"home","count":1,"counted":true}"#),
            ] {
                try await client.execute(uri: uri, method: .post) { #expect($0.text == answer + "\n", "\(uri)") }
            }
            try await client.execute(uri: "/hit", method: .post, body: ByteBuffer(string: #"{"key":"home","id":2}"#)) {
                #expect($0.text == #"{"key":"home","count":1,"counted":true}"# + "\n", "a JSON integer id")
            }
            try await client.execute(uri: "/hits?key=home", method: .get) { #expect($0.text == #"{"key":"home","range":60,"hits":7}"# + "\n") }
            try await client.execute(uri: "/hits?key=home&unique=true", method: .get) {
                #expect($0.text == #"{"key":"home","range":60,"unique":3}"# + "\n")
            }
        }
    }

    /// A hit may name only a configured callback: the service never calls an address a client chose.
    @Test func callbacksMustBeConfigured() async throws {
        try await testApplication { $0.rollups.callbackURLs = ["http://127.0.0.1:9/events"] }.test(.router) { client in
            try await client.execute(uri: "/hit?callback=http://127.0.0.1:9/events", method: .post) {
                #expect($0.text == #"{"key":"default","count":1,"counted":true}"# + "\n")
            }
            try await client.execute(uri: "/hit?callback=http://127.0.0.1:9/other", method: .post) {
                #expect($0.status == .badRequest)
                #expect($0.text == #"{"error":{"message":"callback must be one of the callback URLs this service is configured with"}}"# + "\n")
            }
        }
    }

    /// Every bad input gets a 4xx with a JSON message that says what is wrong; nothing is counted.
    @Test(arguments: [
        BadRequest(.get, "/hits?range=0", 400, "range must be an integer from 1 to 86400"),
        BadRequest(.get, "/hits?range=86401", 400, "range must be an integer from 1 to 86400"),
        BadRequest(.get, "/hits?range=abc", 400, "range must be an integer from 1 to 86400"),
        BadRequest(.get, "/hits?range=", 400, "range must be an integer from 1 to 86400"),
        BadRequest(.get, "/hits?range=1.5", 400, "range must be an integer from 1 to 86400"),
        BadRequest(.get, "/hits?range=99999999999999999999999", 400, "range must be an integer from 1 to 86400"),
        BadRequest(.get, "/hits?range=60&range=61", 400, "range is given more than once"),
        BadRequest(.get, "/hits?rnage=60", 400, "rnage is not a parameter of this route (it takes key, range, unique)"),
        BadRequest(.get, "/hits?key=", 400, "key must be 1 to 200 bytes of UTF-8"),
        BadRequest(.get, "/hits?key=" + String(repeating: "x", count: 201), 400, "key must be 1 to 200 bytes of UTF-8"),
        BadRequest(.get, "/hits?key=%FF", 400, "key is not valid percent-encoded UTF-8"),
        BadRequest(.get, "/hits?key=%4", 400, "key is not valid percent-encoded UTF-8"),
        BadRequest(.get, "/hits?key=a%00b", 400, "key must not contain control characters"),
        BadRequest(.get, "/hits?key=a%0Ab", 400, "key must not contain control characters"),
        BadRequest(.get, "/hits?key=%C2%85", 400, "key must not contain control characters"),
        BadRequest(.post, "/hit?count=0", 400, "count must be an integer from 1 to 10000"),
        BadRequest(.post, "/hit?count=10001", 400, "count must be an integer from 1 to 10000"),
        BadRequest(.post, "/hit?count=-1", 400, "count must be an integer from 1 to 10000"),
        BadRequest(.post, "/hit?count=two", 400, "count must be an integer from 1 to 10000"),
        BadRequest(.post, "/hit?range=60", 400, "range is not a parameter of this route (it takes key, count, id, callback)"),
        BadRequest(.post, "/hit", body: #"{"count":1.5}"#, 400, "count must be an integer from 1 to 10000"),
        BadRequest(.post, "/hit", body: #"{"count":"3"}"#, 400, "count must be an integer from 1 to 10000"),
        BadRequest(.post, "/hit", body: #"{"count":true}"#, 400, "count must be an integer from 1 to 10000"),
        BadRequest(.post, "/hit", body: #"{"count":null}"#, 400, "count must be an integer from 1 to 10000"),
        BadRequest(.post, "/hit", body: #"{"key":7}"#, 400, "key must be a string"),
        BadRequest(.post, "/hit", body: #"{"key":"a\u0000"}"#, 400, "key must not contain control characters"),
        BadRequest(.post, "/hit", body: #"{"cuont":2}"#, 400, "cuont is not a parameter of this route (it takes key, count, id, callback)"),
        BadRequest(.post, "/hit?key=a", body: #"{"key":"b"}"#, 400, "key is given both in the query and in the body"),
        BadRequest(.post, "/hit", body: #"[1,2]"#, 400, #"the request body must be a JSON object, such as {"key":"home","count":1}"#),
        BadRequest(.post, "/hit", body: #"{"key":"#, 400, #"the request body must be a JSON object, such as {"key":"home","count":1}"#),
        BadRequest(.post, "/hit", body: "key=a", 400, #"the request body must be a JSON object, such as {"key":"home","count":1}"#),
        BadRequest(.post, "/hit", body: String(repeating: " ", count: 4097), 413, "the request body is larger than 4096 bytes"),
        BadRequest(.get, "/hit", 405, "/hit does not take GET; it takes POST"),
        BadRequest(.delete, "/hits", 405, "/hits does not take DELETE; it takes GET, HEAD"),
        BadRequest(.post, "/healthz", 405, "/healthz does not take POST; it takes GET, HEAD"),
        BadRequest(.get, "/nothing/here", 404, "no route for GET /nothing/here"),
        BadRequest(.post, "/hit?id=", 400, "id must be 1 to 200 bytes of UTF-8"),
        BadRequest(.post, "/hit?id=" + String(repeating: "i", count: 201), 400, "id must be 1 to 200 bytes of UTF-8"),
        BadRequest(.post, "/hit", body: #"{"id":1.5}"#, 400, "id must be a string or an integer from -9223372036854775808 to 9223372036854775807 (send a larger one as a string)"),
        BadRequest(.post, "/hit", body: #"{"id":18446744073709551616}"#, 400, "id must be a string or an integer from -9223372036854775808 to 9223372036854775807 (send a larger one as a string)"),
        BadRequest(.post, "/hit", body: #"{"id":"a\u0007"}"#, 400, "id must not contain control characters"),
        BadRequest(.post, "/hit?callback=http://169.254.169.254/", 400, "callback is not accepted: this service has no callbacks configured"),
        BadRequest(.get, "/hits?unique=yes", 400, "unique must be true or false"),
    ])
    func refusesBadInput(bad: BadRequest) async throws {
        try await testApplication().test(.router) { client in
            try await client.execute(uri: bad.uri, method: bad.method, body: bad.body.map { ByteBuffer(string: $0) }) { response in
                #expect(response.status.code == bad.status)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                let expected = #"{"error":{"message":"\#(bad.message.replacingOccurrences(of: "\"", with: "\\\""))"}}"# + "\n"
                #expect(response.text == expected)
                if bad.status == 405 { #expect(response.headers[.allow] != nil) }
            }
            try await client.execute(uri: "/hits", method: .get) {
                #expect($0.text == #"{"key":"default","range":60,"hits":0}"# + "\n", "a refused request counts nothing")
            }
        }
    }

    struct BadRequest: Sendable, CustomTestStringConvertible {
        let method: HTTPRequest.Method
        let uri: String
        let body: String?
        let status: Int
        let message: String

        init(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil, _ status: Int, _ message: String) {
            self.method = method
            self.uri = uri
            self.body = body
            self.status = status
            self.message = message
        }

        var testDescription: String { "\(self.method) \(self.uri.prefix(60)) \(self.body?.prefix(30) ?? "")" }
    }
}
