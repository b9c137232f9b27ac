import Logging
import NIOCore
import NIOPosix

/// Hits in Redis: per-second buckets in sorted sets (ZINCRBY), windows read by time.
///
/// Every operation is one EVALSHA: atomic, one round trip, and timed by Redis's clock. All keys of a
/// counter share the hash tag `{key}`, so the store is ready for Redis Cluster. See docs/data-model.md.
public final class RedisHitStore: HitStore {
    public let maxRange: Int
    private let client: RedisClient
    private let keyPrefix: [UInt8]
    private let coalescer: HitCoalescer

    private static let hitScript = 0
    private static let hitsScript = 1

    /// - Parameters:
    ///   - keyPrefix: the start of every key this store writes, so several services can share a Redis.
    public init(
        configuration: RedisConfiguration,
        maxRange: Int = 86_400,
        keyPrefix: String = "hc",
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "hitcounter.redis")
    ) {
        precondition(maxRange >= 1, "maxRange must be at least one second")
        let client = RedisClient(
            configuration: configuration,
            scripts: [HitScripts.hit, HitScripts.hits],
            eventLoopGroup: eventLoopGroup,
            logger: logger
        )
        let hitScript = client.script(Self.hitScript)
        let prefix = Array(keyPrefix.utf8)
        self.maxRange = maxRange
        self.client = client
        self.keyPrefix = prefix
        self.coalescer = HitCoalescer { target, count in
            client.evaluate(
                hitScript,
                keys: [RedisArgument(bytes: Self.baseKey(prefix: prefix, key: target.key))],
                arguments: [RedisArgument(count), RedisArgument(maxRange), Self.secondArgument(target.second)]
            ).flatMapThrowing { reply in
                guard let second = reply.int64 else { throw RedisError.protocolError("the hit script answered \(reply)") }
                return second
            }
        }
    }

    @discardableResult
    public func hit(key: CounterKey, count: Int, at second: Int64?) async throws -> Int64 {
        try await self.coalescer.hit(HitCoalescer.Target(key: key, second: second), count: count)
    }

    public func hits(key: CounterKey, range: Int, at second: Int64?) async throws -> Int64 {
        let reply = try await self.client.evaluate(
            self.client.script(Self.hitsScript),
            keys: [RedisArgument(bytes: Self.baseKey(prefix: self.keyPrefix, key: key))],
            arguments: [RedisArgument(range), Self.secondArgument(second)]
        ).get()
        guard let total = reply.int64 else { throw RedisError.protocolError("the hits script answered \(reply)") }
        return total
    }

    public func ping() async throws {
        try await self.client.ping()
    }

    /// Closes the connection to Redis. Calls after this fail.
    public func shutdown() {
        self.client.shutdown()
    }

    /// `<prefix>:{<key>}`: the braces make the whole key the Redis Cluster hash tag, so every bucket of
    /// a counter lands in one slot. Bucket keys append `:<unit>:<sliceStart>` (in the scripts).
    static func baseKey(prefix: [UInt8], key: CounterKey) -> [UInt8] {
        prefix + Array(":{".utf8) + key.bytes + [UInt8(ascii: "}")]
    }

    private static func secondArgument(_ second: Int64?) -> RedisArgument {
        second.map { RedisArgument($0) } ?? RedisArgument("")
    }
}
