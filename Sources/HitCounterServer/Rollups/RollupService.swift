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
    let emitter: RollupEmitter
    let client: RedisClient
    let executor: BackgroundExecutor
    let kafka: KafkaProducer?

    var description: String { "RollupService" }

    func run() async throws {
        await withTaskExecutorPreference(self.executor) {
            await cancelWhenGracefulShutdown {
                await self.emitter.run()
            }
        }
        self.client.shutdown()
        await self.executor.shutdown()
        await self.kafka?.shutdown()
    }

    /// The sinks the settings name, and the emitter over them; nil when roll-ups are off (memory store,
    /// or no sink).
    static func make(_ settings: ServerSettings, store: any HitStore, logger: Logger) throws -> RollupService? {
        guard let store = store as? RedisHitStore else { return nil }
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
        guard !sinks.isEmpty else { return nil }
        var configuration = RollupEmitter.Configuration(name: settings.serverName ?? Self.hostname())
        configuration.lease = settings.rollups.lease
        configuration.interval = min(.seconds(1), settings.rollups.lease / 4)
        let executor = BackgroundExecutor()
        let client = RedisClient(configuration: store.client.configuration, eventLoopGroup: executor.eventLoopGroup, logger: logger)
        let emitter = RollupEmitter(client: client, keys: store.keys, sinks: sinks, configuration: configuration, logger: logger)
        return RollupService(emitter: emitter, client: client, executor: executor, kafka: kafka)
    }


    /// The pod's name on Kubernetes. `gethostname`, not Foundation's `hostName`, which may ask DNS.
    private static func hostname() -> String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "unknown" }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
