import Synchronization
import TestSupport
import Testing

/// The test servers themselves: a port another process takes between being found free and being bound
/// (as parallel tests do) costs a retry, not a test.
@Suite struct RedisServerTests {
    @Test func aServerWhosePortWasTakenStartsOnAnother() async throws {
        // Something else listens on the port first chosen.
        let holder = try DelayingProxy(to: 1, delays: [.zero])
        let choices = Mutex(0)
        let redis = try RedisServer(choosingPortWith: {
            try choices.withLock { count in
                count += 1
                return count == 1 ? holder.port : try freePort()
            }
        }, arguments: { _ in [] })
        #expect(redis.port == holder.port)
        try await redis.start()
        #expect(redis.port != holder.port)
        #expect(choices.withLock { $0 } == 2)
        #expect(try redis.cli(["PING"]) == "PONG")
        await redis.stop()
    }
}
