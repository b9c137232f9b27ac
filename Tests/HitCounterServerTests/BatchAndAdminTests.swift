import Foundation
@testable import HitCounter
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import TestSupport
import Testing

@testable import HitCounterServer

/// `POST /hit/batch`, `GET /keys` and `DELETE /counters/{key}` against a real Redis.
@Suite struct BatchAndAdminTests {
    static let admin = "admin-token-0123456789"
    static let adminHeader: HTTPFields = [.authorization: "Bearer \(Self.admin)"]

    static func app(_ redis: RedisServer, maxBatch: Int = 100) throws -> some ApplicationProtocol {
        try testApplication(redis: redis.configuration) { settings in
            settings.tokens.admin = Array(Self.admin.utf8)
            settings.web.maxBatch = maxBatch
        }
    }

    static func batch(_ client: some TestClientProtocol, _ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        try await client.execute(uri: "/hit/batch", method: .post, body: ByteBuffer(string: body)) { response in
            (response.status, try LiveViewRoutesTests.json(response.text))
        }
    }

    static func hits(_ client: some TestClientProtocol, _ key: String, unique: Bool = false) async throws -> Int {
        try await client.execute(uri: "/hits?key=\(key)&unique=\(unique)", method: .get) { response in
            try #require(LiveViewRoutesTests.json(response.text)[unique ? "unique" : "hits"] as? Int)
        }
    }

    @Test func aBatchIsCountedWholeWithOneResultPerHitAndIdsOnceAcrossReplicas() async throws {
        try await withRedisServer { redis in
            try await Self.app(redis).test(.router) { first in
                let (status, answer) = try await Self.batch(first, #"[{"key":"b"},{"key":"b","count":2,"id":"o-1"},{"key":"b","id":"o-1"},{"key":"c","count":5}]"#)
                #expect(status == .ok)
                let results = try #require(answer["results"] as? [[String: Any]])
                #expect(results.map { $0["counted"] as? Bool } == [true, true, false, true], "the repeated id inside the batch counts once")
                #expect(results.map { $0["key"] as? String } == ["b", "b", "b", "c"])
                #expect(try await Self.hits(first, "b") == 3)
                #expect(try await Self.hits(first, "b", unique: true) == 1)
                #expect(try await Self.hits(first, "c") == 5)
                // Another replica on the same Redis knows the id.
                try await Self.app(redis).test(.router) { second in
                    let (_, again) = try await Self.batch(second, #"[{"key":"b","id":"o-1"},{"key":"b","id":"o-2"}]"#)
                    #expect((again["results"] as? [[String: Any]])?.map { $0["counted"] as? Bool } == [false, true])
                    #expect(try await Self.hits(second, "b") == 4)
                }
            }
        }
    }

    /// A batch of 1,000 hits (one counter with 150 ids, 850 others each with an id) is split into
    /// script calls of at most `RedisHitStore.maxCallWeight` units (a counter, or an id), so no call holds
    /// Redis long: in one call the batch held Redis 30 to 55 ms and every other client waited (the time
    /// a call takes is a benchmark's to measure; docs/reliability.md). Read from Redis's slow log, which
    /// here logs every command: each call's number of keys. Each id still counts once, in order, across
    /// the calls its counter was split into.
    @Test func aLargeBatchIsSplitIntoShortCalls() async throws {
        try await withRedisServer(arguments: ["--slowlog-log-slower-than", "0", "--slowlog-max-len", "10000"]) { redis in
            let app = try testApplication(redis: redis.configuration) { settings in
                settings.tokens.admin = Array(Self.admin.utf8)
                settings.web.maxBatch = 1000
            }
            try await app.test(.router) { client in
                let hits = (0..<150).map { #"{"key":"one","id":"o-\#($0)"}"# } + (0..<850).map { #"{"key":"k\#($0)","id":"i"}"# }
                let body = "[" + hits.joined(separator: ",") + "]"
                let (status, answer) = try await Self.batch(client, body)
                #expect(status == .ok)
                #expect((answer["results"] as? [[String: Any]])?.allSatisfy { $0["counted"] as? Bool == true } == true)
                // Again, with one new id in the middle of the big counter's: only it counts.
                let withNew: [String] = Array(hits[..<100]) + [#"{"key":"one","id":"new"}"#] + Array(hits[100..<999])
                let again = "[" + withNew.joined(separator: ",") + "]"
                let (_, second) = try await Self.batch(client, again)
                let counted = (second["results"] as? [[String: Any]])?.enumerated().filter { $0.element["counted"] as? Bool == true }.map(\.offset)
                #expect(counted == [100])
                #expect(try await Self.hits(client, "one") == 151)
                #expect(try await Self.hits(client, "k848") == 1)
                // A call's keys: 3, and per counter with ids 6 and one per id. The first batch's calls
                // on a fresh Redis are EVALs (NOSCRIPT), whose logged source spans lines; the second
                // batch's are EVALSHAs, whose number of keys follows the script's name.
                let log = try redis.cli(["SLOWLOG", "GET", "10000"]).split(separator: "\n")
                let keysPerCall = log.indices.dropLast(2).filter { log[$0] == "EVALSHA" }.compactMap { Int(log[$0 + 2]) }
                #expect(keysPerCall.count >= 1000 / RedisHitStore.maxCallWeight, "\(keysPerCall.count) calls")
                #expect(keysPerCall.allSatisfy { $0 <= 3 + 7 * RedisHitStore.maxCallWeight }, "\(keysPerCall.max() ?? 0) keys in one call")
            }
        }
    }

    @Test func aBadHitRefusesTheWholeBatchNamingItsIndex() async throws {
        try await withRedisServer { redis in
            try await Self.app(redis, maxBatch: 3).test(.router) { client in
                let cases: [(String, String)] = [
                    (#"[{"key":"x"},{"key":"x","count":0}]"#, "hits[1].count must be an integer from 1 to 10000"),
                    (#"[{"key":"x"},{"key":"x"},{"key":"x","cuont":2}]"#, "hits[2].cuont is not a parameter"),
                    (#"[{"key":"x"},"y"]"#, "hits[1] must be a JSON object"),
                    (#"[{"key":"x"},{"key":"x"},{"key":"x"},{"key":"x"}]"#, "a batch holds from 1 to 3 hits; this one has 4"),
                    ("[]", "a batch holds from 1 to 3 hits; this one has 0"),
                    (#"{"key":"x"}"#, "must be a JSON array of hits"),
                    (#"[{"key":"x","key":"y"}]"#, "key is given more than once"),
                ]
                for (body, message) in cases {
                    let (status, answer) = try await Self.batch(client, body)
                    #expect(status == .badRequest, "\(body)")
                    let said = (answer["error"] as? [String: Any])?["message"] as? String ?? ""
                    #expect(said.contains(message), "\(body): \(said)")
                }
                #expect(try await Self.hits(client, "x") == 0, "nothing of a refused batch is counted")
                try await client.execute(uri: "/hit/batch?key=x", method: .post, body: ByteBuffer(string: #"[{"key":"x"}]"#)) {
                    #expect($0.status == .badRequest)
                }
            }
        }
    }

    @Test func keysPageThroughThousandsOfCountersEachOnce() async throws {
        try await withRedisServer { redis in
            try await Self.app(redis).test(.router) { client in
                var expected = Set<String>()
                for batch in 0..<30 {
                    let keys = (0..<100).map { "k\(batch)-\($0)" }
                    expected.formUnion(keys)
                    let body = "[" + keys.map { #"{"key":"\#($0)"}"# }.joined(separator: ",") + "]"
                    #expect(try await Self.batch(client, body).0 == .ok)
                }
                try await client.execute(uri: "/hit?key=other", method: .post) { #expect($0.status == .ok) }
                var listed: [String] = []
                var cursor: String?
                var pages = 0
                repeat {
                    let query = "/keys?prefix=k&limit=100" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let page = try await client.execute(uri: query, method: .get, headers: Self.adminHeader) { response in
                        #expect(response.status == .ok, "\(response.text)")
                        return try LiveViewRoutesTests.json(response.text)
                    }
                    listed += try #require(page["keys"] as? [String])
                    cursor = page["next"] as? String
                    pages += 1
                } while cursor != nil && pages < 1000
                #expect(listed.count == expected.count, "each counter once")
                #expect(Set(listed) == expected, "every counter whose key starts with the prefix, and no other")
                #expect(pages > 1, "more than one page")
                let all = try await client.execute(uri: "/keys?prefix=oth", method: .get, headers: Self.adminHeader) { try LiveViewRoutesTests.json($0.text) }
                #expect(all["keys"] as? [String] == ["other"])
            }
        }
    }

    @Test func aResetUnderConcurrentHitsNeverCountsTwiceNorGoesNegative() async throws {
        try await withRedisServer { redis in
            try await Self.app(redis).test(.live) { client in
                let ids = 0..<400
                let sent = SentCount()
                // Eight clients sending hits with ids, and a reset once about half of them are in.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<8 {
                        group.addTask {
                            for id in stride(from: worker, to: ids.count, by: 8) {
                                try await client.execute(uri: "/hit?key=busy&id=\(id)", method: .post) { #expect($0.status == .ok) }
                                sent.value.add(1, ordering: .relaxed)
                            }
                        }
                    }
                    group.addTask {
                        while sent.value.load(ordering: .relaxed) < ids.count / 2 { try await Task.sleep(for: .milliseconds(1)) }
                        try await client.execute(uri: "/counters/busy", method: .delete, headers: Self.adminHeader) { response in
                            #expect(response.status == .ok)
                            #expect(response.text == #"{"key":"busy","reset":true}"# + "\n")
                        }
                    }
                    try await group.waitForAll()
                }
                let afterReset = try await Self.hits(client, "busy")
                #expect((0...ids.count).contains(afterReset), "\(afterReset)")
                #expect(try await Self.hits(client, "busy", unique: true) == afterReset)
                // Every id again: those counted after the reset are still known, those before it are gone.
                for id in ids {
                    try await client.execute(uri: "/hit?key=busy&id=\(id)", method: .post) { #expect($0.status == .ok) }
                }
                let total = try await Self.hits(client, "busy")
                #expect(total <= ids.count, "nothing counted twice: \(total)")
                #expect(total >= ids.count - 8, "at most the ids counted between the scan and the reset (one per client) stay known: \(total)")
                // A reset of a quiet counter: everything goes, top keys too.
                try await client.execute(uri: "/counters/busy", method: .delete, headers: Self.adminHeader) { #expect($0.status == .ok) }
                #expect(try await Self.hits(client, "busy") == 0)
                #expect(try await Self.hits(client, "busy", unique: true) == 0)
                try await client.execute(uri: "/top?range=60", method: .get) { #expect(!$0.text.contains("busy")) }
                try await client.execute(uri: "/hit?key=busy&id=1", method: .post) { #expect($0.text.contains(#""counted":true"#)) }
                #expect(try redis.cli(["--scan", "--pattern", "hc:{busy}:*"]).split(whereSeparator: \.isNewline).count > 0)
            }
        }
    }

    @Test func keysPercentEncodedInTheResetPathAndTheAdminToken() async throws {
        try await withRedisServer { redis in
            try await Self.app(redis).test(.router) { client in
                try await client.execute(uri: "/hit?key=blog%2Fpost%20one", method: .post) { #expect($0.status == .ok) }
                try await client.execute(uri: "/counters/blog%2Fpost%20one", method: .delete) { #expect($0.status == .unauthorized) }
                try await client.execute(uri: "/counters/blog%2Fpost%20one", method: .delete, headers: [.authorization: "Bearer wrong-token-0123456789"]) {
                    #expect($0.status == .unauthorized)
                }
                try await client.execute(uri: "/keys", method: .get) { #expect($0.status == .unauthorized) }
                try await client.execute(uri: "/counters/blog%2Fpost%20one", method: .delete, headers: Self.adminHeader) { response in
                    #expect(response.text == #"{"key":"blog/post one","reset":true}"# + "\n")
                }
                #expect(try await Self.hits(client, "blog%2Fpost%20one") == 0)
                // A reset takes nothing but its path: a query is refused, and nothing is reset.
                try await client.execute(uri: "/hit?key=kept", method: .post) { #expect($0.status == .ok) }
                for query in ["?anything", "?key=other", "?a=1"] {
                    try await client.execute(uri: "/counters/kept\(query)", method: .delete, headers: Self.adminHeader) { response in
                        #expect(response.status == .badRequest, "\(query)")
                        #expect(response.text.contains("is not a parameter of this route (it takes none)"), "\(response.text)")
                    }
                }
                #expect(try await Self.hits(client, "kept") == 1)
                for cursor in ["abc", "", "-1", "99999999999999999999", "1.5"] {
                    try await client.execute(uri: "/keys?cursor=\(cursor)", method: .get, headers: Self.adminHeader) {
                        #expect($0.status == .badRequest, "cursor \(cursor)")
                    }
                }
            }
            // No admin token: the routes are not there at all.
            try await testApplication(redis: redis.configuration).test(.router) { client in
                try await client.execute(uri: "/keys", method: .get) { #expect($0.status == .notFound) }
                try await client.execute(uri: "/counters/x", method: .delete) { #expect($0.status == .notFound) }
            }
        }
    }
}

/// How many hits the clients of a test have had answered.
private final class SentCount: Sendable {
    let value = Atomic<Int>(0)
}
