import HitCounter
import InMemoryTracing
import NIOCore
import NIOPosix
import TestSupport
import Testing
import Tracing

/// The counter's spans with a tracer: one per call, under the caller's span, and under it one per
/// Redis round trip that served the call, saying which Redis, which script or commands, how large
/// the flight was. Recorded by swift-distributed-tracing's in-memory tracer, against a real Redis.
@Suite struct TracingTests {
    static let now = WindowTests.now

    private static func spans(_ tracer: InMemoryTracer, named name: String, under parent: FinishedInMemorySpan) -> [FinishedInMemorySpan] {
        tracer.finishedSpans.filter { $0.operationName == name && $0.parentSpanID == parent.spanID }
    }

    /// `body` inside a caller's span (the task's `ServiceContext`), ended once it is done, for the
    /// counter's spans to sit under.
    private static func underRequest<T>(_ tracer: InMemoryTracer, _ body: () async throws -> T) async throws -> T {
        let request = tracer.startSpan("request", context: .topLevel, ofKind: .server)
        defer { request.end() }
        return try await ServiceContext.withValue(request.context) { try await body() }
    }

    /// A store on `configuration` and a counter on it with an in-memory tracer.
    private static func tracedCounter(_ configuration: RedisConfiguration) -> (InMemoryTracer, RedisHitStore, HitCounter) {
        let tracer = InMemoryTracer()
        let store = RedisHitStore(configuration: configuration)
        return (tracer, store, HitCounter(store: store, tracer: tracer))
    }

    @Test func aHitIsASpanWithItsRedisCallAsAChild() async throws {
        try await withRedisServer { redis in
            let (tracer, store, counter) = Self.tracedCounter(redis.configuration)
            defer { store.shutdown() }
            try await Self.underRequest(tracer) { _ = try await counter.hit(key: "traced", count: 3, id: HitID("a1")) }
            let request = try #require(tracer.finishedSpans.first { $0.operationName == "request" })
            let hit = try #require(Self.spans(tracer, named: "hit", under: request).first)
            #expect(hit.traceID == request.traceID)
            #expect(hit.attributes.get("hitcounter.count") == .int64(3))
            #expect(hit.attributes.get("hitcounter.id") == .bool(true))
            let redisCall = try #require(Self.spans(tracer, named: "EVALSHA", under: hit).first)
            #expect(redisCall.kind == .client)
            #expect(redisCall.attributes.get("db.system.name") == .string("redis"))
            #expect(redisCall.attributes.get("hitcounter.script") == .string("hit"))
            #expect(redisCall.attributes.get("hitcounter.batch.calls") == .int64(1))
            #expect(redisCall.attributes.get("server.address") == .string("127.0.0.1"))
            #expect(redisCall.attributes.get("server.port") == .int64(Int64(redis.port)))
            #expect(redisCall.errors.isEmpty && redisCall.status == nil)
        }
    }

    /// Twenty hits sent in one turn of an event loop: the first leaves alone, the other nineteen wait
    /// and share the next flight. Each caller still gets a Redis span of its own, saying how many
    /// calls its flight carried.
    @Test func eachCallerOfAFlightGetsItsOwnRedisSpan() async throws {
        try await withRedisServer { redis in
            let tracer = InMemoryTracer()
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let store = RedisHitStore(configuration: redis.configuration, eventLoopGroup: group)
            let counter = HitCounter(store: store, tracer: tracer)
            let loop = group.next()
            let requests = (0..<20).map { _ in tracer.startSpan("request", context: .topLevel, ofKind: .server) }
            let receipts = try await loop.flatSubmit {
                EventLoopFuture.whenAllSucceed(
                    requests.enumerated().map { index, request in
                        counter.hit(key: CounterKey("flight\(index % 3)"), id: nil, at: Self.now, on: loop, context: request.context)
                    }, on: loop)
            }.get()
            requests.forEach { $0.end() }
            #expect(receipts.count == 20)
            var calls: [Int64] = []
            for request in tracer.finishedSpans where request.operationName == "request" {
                let hit = try #require(Self.spans(tracer, named: "hit", under: request).first)
                // Hits without ids: one transaction of plain commands (docs/fold.md).
                let redisCalls = Self.spans(tracer, named: "MULTI", under: hit)
                #expect(redisCalls.count == 1)
                if case .int64(let flight)? = redisCalls.first?.attributes.get("hitcounter.batch.calls") { calls.append(flight) }
            }
            #expect(calls.sorted() == [1] + Array(repeating: 19, count: 19))
            #expect(try await store.hits(key: "flight0", range: 1, at: Self.now) == 7)
            store.shutdown()
            try await group.shutdownGracefully()
        }
    }

    @Test func readsAreSpansWithTheirPipelineAsAChild() async throws {
        try await withRedisServer { redis in
            let (tracer, store, counter) = Self.tracedCounter(redis.configuration)
            defer { store.shutdown() }
            try await counter.hit(key: "read", count: 2)
            try await Self.underRequest(tracer) {
                #expect(try await counter.hits(key: "read", range: 60) == 2)
                _ = try await counter.series(key: "read", range: 60, step: 10)
                _ = try await counter.top(range: 3600, limit: 5)
            }
            let request = try #require(tracer.finishedSpans.first { $0.operationName == "request" })
            for (call, pipeline) in [("hits", "TIME GETRANGE"), ("series", "TIME GETRANGE"), ("top", "TIME ZREVRANGE")] {
                let span = try #require(Self.spans(tracer, named: call, under: request).first, "\(call)")
                let read = try #require(Self.spans(tracer, named: pipeline, under: span).first, "\(call): \(pipeline)")
                guard case .int64(let commands)? = read.attributes.get("db.operation.batch.size") else {
                    Issue.record("\(call): no batch size")
                    continue
                }
                #expect(commands >= 2, "TIME and at least one read")
            }
            #expect(Self.spans(tracer, named: "hits", under: request).first?.attributes.get("hitcounter.range") == .int64(60))
        }
    }

    @Test func aFailedRedisCallMarksBothSpansAsFailed() async throws {
        try await withRedisServer { redis in
            var configuration = redis.configuration
            configuration.commandTimeout = .milliseconds(200)
            let (tracer, store, counter) = Self.tracedCounter(configuration)
            defer { store.shutdown() }
            try await store.ping()
            // Far longer than the timeout, so the hit meets the stall however late a busy machine sends it.
            try redis.stall(milliseconds: 5000)
            await #expect(throws: RedisError.self) { try await counter.hit(key: "stalled") }
            let hit = try #require(tracer.finishedSpans.first { $0.operationName == "hit" })
            let redisCall = try #require(Self.spans(tracer, named: "MULTI", under: hit).first)
            for span in [hit, redisCall] {
                #expect(span.status?.code == .error, "\(span.operationName)")
                #expect(span.errors.first?.error is RedisError, "\(span.operationName)")
            }
            #expect(hit.parentSpanID == nil, "no caller's span: the hit starts a trace")
        }
    }
}
