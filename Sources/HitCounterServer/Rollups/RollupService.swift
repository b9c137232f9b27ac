import AsyncHTTPClient
import Foundation
import HitCounter
import Logging
import ServiceLifecycle

/// Runs this replica's `RollupEmitter` until shutdown, then releases the roll-up lock (so another
/// replica takes over at once) and closes the sinks.
///
/// The roll-ups are bulk work: they run on a thread of their own (`BackgroundExecutor`), over a Redis
/// connection of their own on that thread, so a large minute never queues in front of hits on the
/// hits' connection nor holds up the event loops that serve requests.
struct RollupService: Service, CustomStringConvertible {
    let sinks: [any RollupSink]
    let configuration: RollupEmitter.Configuration
    let maxRange: Int
    /// `--top-keys`: the fold writes the hours' top sets.
    let topKeys: Bool
    let redis: RedisConfiguration
    let keys: KeySchema
    let kafka: KafkaProducer?
    let logger: Logger

    var description: String { "RollupService" }

    func run() async throws {
        let executor = BackgroundExecutor()
        let client = RedisClient(configuration: self.redis, eventLoopGroup: executor.eventLoopGroup, logger: self.logger)
        let emitter = RollupEmitter(
            client: client, keys: self.keys, sinks: self.sinks, configuration: self.configuration, maxRange: self.maxRange, topKeys: self.topKeys,
            logger: self.logger
        )
        await withTaskExecutorPreference(executor) {
            await cancelWhenGracefulShutdown {
                await emitter.run()
            }
        }
        client.shutdown()
        await executor.shutdown()
        await self.kafka?.shutdown()
    }

    /// The sinks the settings name, and the emitter's configuration for the counters spelled by `keys`.
    /// Always one, sinks or none: the emitter folds the minutes hits leave in seconds (docs/fold.md).
    static func make(_ settings: ServerSettings, keys: KeySchema, logger: Logger) throws -> RollupService {
        var sinks: [any RollupSink] = []
        var kafka: KafkaProducer?
        if settings.rollups.log {
            sinks.append(LogSink(logger: logger))
        }
        if let brokers = settings.rollups.kafkaBrokers {
            let producer = try KafkaProducer(brokers: brokers, topic: settings.rollups.kafkaTopic)
            sinks.append(KafkaSink(producer: producer, topic: settings.rollups.kafkaTopic))
            kafka = producer
        }
        for url in settings.rollups.callbackURLs {
            sinks.append(CallbackSink(url: url, client: HTTPClient.shared))
        }
        var configuration = RollupEmitter.Configuration(name: settings.serverName ?? Self.hostname())
        configuration.lease = settings.rollups.lease
        configuration.interval = min(.seconds(1), settings.rollups.lease / 4)
        return RollupService(
            sinks: sinks, configuration: configuration, maxRange: settings.maxRange, topKeys: settings.topKeys, redis: settings.redis, keys: keys, kafka: kafka,
            logger: logger
        )
    }

    /// The pod's name on Kubernetes. `gethostname`, not Foundation's `hostName`, which may ask DNS.
    private static func hostname() -> String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "unknown" }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
