import CoreMetrics

/// What the Redis client reports through swift-metrics (a no-op until the executable bootstraps a
/// backend). Labels are fixed names, never keys or arguments.
enum RedisMetrics {
    /// One write of a batch of commands to Redis.
    static let roundTrips = Counter(label: "hitcounter_redis_round_trips_total")
    /// Commands per round trip: how much group commit shares.
    static let batchSize = Recorder(label: "hitcounter_redis_batch_size")
    /// Commands that failed without a reply, by `RedisError.Kind`.
    static func errors(_ kind: RedisError.Kind) -> Counter {
        Counter(label: "hitcounter_redis_errors_total", dimensions: [("kind", kind.rawValue)])
    }
    /// Connection attempts, by outcome.
    static func connects(_ outcome: String) -> Counter {
        Counter(label: "hitcounter_redis_connects_total", dimensions: [("outcome", outcome)])
    }
}
