import AsyncHTTPClient
import Foundation
import HTTPTypes
import HitCounter
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import TestSupport
import Testing

@testable import HitCounterServer

/// The roll-up sinks against real peers: librdkafka's mock Kafka cluster read back with kcat, and a
/// callback server started by the test.
@Suite struct RollupSinkTests {
    static let minute: Int64 = 1_800_000_000

    @Test func kafkaEventsReadBackMatchTheCounts() async throws {
        try await withRedisServer { redis in
            let kafka = try MockKafkaCluster()
            kafka.createTopic("rollups")
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let m = Self.minute
            for index in 0..<30 {
                // 3 keys; 10 ids, each sent twice.
                let key = CounterKey("page-\(index % 3)")
                _ = try await store.hit(key: key, count: 1, id: HitID("req-\(index % 10)"), callback: nil, at: m + Int64(index))
                _ = try await store.hit(key: key, count: 1, id: HitID("req-\(index % 10)"), callback: nil, at: m + Int64(index))
            }
            let producer = try KafkaProducer(brokers: kafka.bootstraps, topic: "rollups")
            let sink = KafkaSink(producer: producer, topic: "rollups")
            let emitter = RollupEmitter(store: store, sinks: [sink], configuration: .init(name: "pod-a"), clock: { m + 62 })
            #expect(try await emitter.runOnce() == 1)
            await producer.shutdown()

            let messages = try kafka.consume("rollups").sorted { $0.key < $1.key }
            #expect(messages.map(\.key) == ["page-0", "page-1", "page-2"])
            // Each key saw all ten ids (index % 3 and index % 10 cover every pair), each twice: counted once.
            let expected = (0..<3).map { key in
                #"{"key":"page-\#(key)","minute":\#(m),"hits":10,"unique":10,"emittedBy":"pod-a"}"#
            }
            #expect(messages.map(\.value) == expected)
        }
    }

    @Test func aMinuteIsNotEmittedUntilKafkaAcknowledgesIt() async throws {
        try await withRedisServer { redis in
            let store = RedisHitStore(configuration: redis.configuration)
            defer { store.shutdown() }
            let m = Self.minute
            try await store.hit(key: "k", count: 2, at: m + 1)
            // Nothing listens on port 1: every delivery times out.
            let producer = try KafkaProducer(brokers: "127.0.0.1:1", topic: "rollups", timeout: .milliseconds(500))
            let emitter = RollupEmitter(
                store: store, sinks: [KafkaSink(producer: producer, topic: "rollups")], configuration: .init(name: "pod-a"), clock: { m + 62 }
            )
            #expect(try await emitter.runOnce() == 0)
            #expect(try redis.cli(["GET", "hc:rollup:next:kafka:rollups"]) == "\(m)", "the minute is still owed")
            await producer.shutdown()
        }
    }

    /// Events go to the callback a hit named, with retries and backoff while it fails, and hits carry on.
    @Test func callbacksReceiveTheirEventsAndFailuresAreRetried() async throws {
        let received = Mutex<(bodies: [String], idempotencyKeys: [String], failuresLeft: Int, attempts: Int)>(([], [], 2, 0))
        let router = Router()
        router.post("events") { request, _ -> HTTPResponse.Status in
            let body = String(buffer: try await request.body.collect(upTo: 4096))
            return received.withLock { state in
                state.attempts += 1
                if state.failuresLeft > 0 {
                    state.failuresLeft -= 1
                    return .internalServerError
                }
                state.bodies.append(body)
                state.idempotencyKeys.append(request.headers[HTTPField.Name("Idempotency-Key")!] ?? "")
                return .ok
            }
        }
        try await Application(router: router).test(.live) { client in
            let url = "http://127.0.0.1:\(try #require(client.port))/events"
            try await withRedisServer { redis in
                let store = RedisHitStore(configuration: redis.configuration)
                defer { store.shutdown() }
                let m = Self.minute
                _ = try await store.hit(key: "named", count: 2, id: nil, callback: url, at: m + 10)
                _ = try await store.hit(key: "named", count: 1, id: nil, callback: nil, at: m + 20)
                _ = try await store.hit(key: "silent", count: 5, id: nil, callback: nil, at: m + 30)
                // Long enough that a busy machine never turns a slow answer into one more attempt.
                let sink = CallbackSink(url: url, client: HTTPClient.shared, timeout: .seconds(20))
                let emitter = RollupEmitter(store: store, sinks: [sink], configuration: .init(name: "pod-b"), clock: { m + 62 })

                let firstFailure = ContinuousClock.now
                #expect(try await emitter.runOnce() == 0, "the callback answers 500")
                let duringFailure = try await store.hit(key: "named", count: 1, id: nil, callback: url, at: m + 61)
                #expect(duringFailure.counted, "hits are not held up by a failing callback")
                // Until the callback takes the minute: the backoffs (0.5 s, then 1 s) keep the emitter
                // from trying at each pass.
                #expect(try await passEvery50Milliseconds { try await emitter.runOnce() } == 1)
                #expect(firstFailure.duration(to: .now) >= .milliseconds(1500), "two backoffs waited out")
            }
        }
        let state = received.withLock { $0 }
        #expect(state.attempts == 3, "two 500s and a success: no attempt inside a backoff")
        #expect(state.bodies == [#"{"key":"named","minute":1800000000,"hits":3,"unique":0,"emittedBy":"pod-b"}"#])
        #expect(state.idempotencyKeys == ["1800000000:named"])
    }

    /// The same id through three replicas of the HTTP service, with retries: counted once.
    @Test func theSameIDThroughThreeReplicasCountsOnce() async throws {
        try await withRedisServer { redis in
            var answers: [String] = []
            for _ in 0..<9 {
                // A replica each time: a test app's store closes when its test ends.
                let app = try testApplication(redis: redis.configuration)
                answers.append(try await app.test(.router) { client in
                    try await client.execute(uri: "/hit?key=signup&id=user-7", method: .post) { $0.text }
                })
            }
            #expect(answers.filter { $0.hasSuffix(#""counted":true}"# + "\n") }.count == 1, "\(answers)")
            #expect(answers.filter { $0.hasSuffix(#""counted":false}"# + "\n") }.count == 8)
            try await testApplication(redis: redis.configuration).test(.router) { client in
                try await client.execute(uri: "/hits?key=signup", method: .get) { #expect($0.text == #"{"key":"signup","range":60,"hits":1}"# + "\n") }
                try await client.execute(uri: "/hits?key=signup&unique=true", method: .get) {
                    #expect($0.text == #"{"key":"signup","range":60,"unique":1}"# + "\n")
                }
            }
        }
    }
}
