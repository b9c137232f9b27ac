import Logging
import NIOCore
import NIOPosix

/// Hits in Redis: per-second buckets in sorted sets (ZINCRBY), windows read by time.
///
/// Every operation is one EVALSHA: atomic, one round trip, and timed by Redis's clock. All keys of a
/// counter share the hash tag `{key}`, so the store is ready for Redis Cluster. See docs/data-model.md.
public final class RedisHitStore: HitStore {
    public let maxRange: Int
    public let dedupPeriod: Int
    let client: RedisClient
    let keyPrefix: [UInt8]
    private let coalescer: HitCoalescer

    static let hitScript = 0
    static let hitsScript = 1

    /// - Parameters:
    ///   - dedupPeriod: how long a hit's id is remembered, in seconds.
    ///   - keyPrefix: the start of every key this store writes, so several services can share a Redis.
    public init(
        configuration: RedisConfiguration,
        maxRange: Int = 86_400,
        dedupPeriod: Int = 86_400,
        keyPrefix: String = "hc",
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "hitcounter.redis")
    ) {
        precondition(maxRange >= 1, "maxRange must be at least one second")
        precondition(dedupPeriod >= 1, "dedupPeriod must be at least one second")
        let client = RedisClient(
            configuration: configuration,
            scripts: [HitScripts.hit, HitScripts.hits] + RollupScripts.all,
            eventLoopGroup: eventLoopGroup,
            logger: logger
        )
        let hitScript = client.script(Self.hitScript)
        let prefix = Array(keyPrefix.utf8)
        let rollupPrefix = RedisArgument(bytes: prefix + Array(":rollup".utf8))
        self.maxRange = maxRange
        self.dedupPeriod = dedupPeriod
        self.client = client
        self.keyPrefix = prefix
        self.coalescer = HitCoalescer { target, batch in
            var arguments: [RedisArgument] = [
                RedisArgument(batch.count), RedisArgument(maxRange), Self.secondArgument(target.second), RedisArgument(dedupPeriod),
                rollupPrefix, RedisArgument(bytes: target.key.bytes), RedisArgument(batch.callbacks.count),
            ]
            arguments += batch.callbacks.map { RedisArgument($0) }
            for (id, count) in batch.ids {
                arguments += [RedisArgument(bytes: id.bytes), RedisArgument(count)]
            }
            return client.evaluate(
                hitScript,
                keys: [RedisArgument(bytes: Self.baseKey(prefix: prefix, key: target.key))],
                arguments: arguments
            ).flatMapThrowing { reply in
                guard case .array(let values) = reply, let second = values.first?.int64, values.count == batch.ids.count + 1 else {
                    throw RedisError.protocolError("the hit script answered \(reply)")
                }
                return HitCoalescer.Outcome(second: second, counted: values.dropFirst().map { $0.int64 == 1 })
            }
        }
    }

    public func hit(key: CounterKey, count: Int, id: HitID?, callback: String?, at second: Int64?) async throws -> HitReceipt {
        try await self.coalescer.hit(HitCoalescer.Target(key: key, second: second), count: count, id: id, callback: callback)
    }

    public func hits(key: CounterKey, range: Int, unique: Bool, at second: Int64?) async throws -> Int64 {
        var base = Self.baseKey(prefix: self.keyPrefix, key: key)
        if unique { base += Array(":u".utf8) }
        let reply = try await self.client.evaluate(
            self.client.script(Self.hitsScript),
            keys: [RedisArgument(bytes: base)],
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

    static func secondArgument(_ second: Int64?) -> RedisArgument {
        second.map { RedisArgument($0) } ?? RedisArgument("")
    }
}
