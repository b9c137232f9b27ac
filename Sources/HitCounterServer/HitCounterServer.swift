import ArgumentParser
import Configuration
import Hummingbird
import Logging
import ServiceLifecycle
import NIOCore
import NIOPosix

/// `HitCounterServer`: reads its settings, sets up logging, and runs until SIGTERM or SIGINT.
@main
struct HitCounterServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "HitCounterServer",
        abstract: "A sliding-window hit counter over HTTP, stored in Redis.",
        discussion: "Each option can also be set by its HITCOUNTER_* environment variable; a flag wins over the environment."
    )

    @Option(help: "Address to listen on (HITCOUNTER_HOSTNAME, default 127.0.0.1).") var hostname: String?
    @Option(help: "Port to listen on (HITCOUNTER_PORT, default 8080).") var port: String?
    @Option(help: "Where hits are kept: redis or memory (HITCOUNTER_STORE, default redis).") var store: String?
    @Option(help: "redis://[[user]:password@]host[:port][/db] or unix:///path (HITCOUNTER_REDIS_URL, default redis://127.0.0.1:6379).")
    var redisUrl: String?
    @Option(help: "Seconds to wait for Redis to connect or answer (HITCOUNTER_REDIS_TIMEOUT, default 1).") var redisTimeout: String?
    @Option(help: "The longest window in seconds (HITCOUNTER_MAX_RANGE, default 86400).") var maxRange: String?
    @Option(help: "trace, debug, info, notice, warning, error or critical (HITCOUNTER_LOG_LEVEL, default info).") var logLevel: String?
    @Option(help: "json (one object per line) or text (HITCOUNTER_LOG_FORMAT, default json).") var logFormat: String?
    @Option(help: "Seconds before an idle connection is closed (HITCOUNTER_IDLE_TIMEOUT, default 75).") var idleTimeout: String?
    @Option(help: "Seconds a client may take to send a request body (HITCOUNTER_REQUEST_TIMEOUT, default 10).") var requestTimeout: String?
    @Option(help: "Open connections at most; more wait to be accepted (HITCOUNTER_MAX_CONNECTIONS, default 1000).") var maxConnections: String?
    @Option(help: "Seconds a hit's id is remembered; at least the max range (HITCOUNTER_DEDUP_PERIOD, default 86400).")
    var dedupPeriod: String?
    @Option(help: "Log each roll-up event: true or false (HITCOUNTER_ROLLUP_LOG, default true).") var rollupLog: String?
    @Option(help: "Seconds the roll-up lock outlives its holder (HITCOUNTER_ROLLUP_LEASE, default 10).") var rollupLease: String?
    @Option(help: "Kafka brokers host:port,... for roll-up events; none by default (HITCOUNTER_KAFKA_BROKERS).") var kafkaBrokers: String?
    @Option(help: "Kafka topic for roll-up events (HITCOUNTER_KAFKA_TOPIC, default hitcounter-rollups).") var kafkaTopic: String?
    @Option(help: "Callback URLs a hit may name, comma separated; none by default (HITCOUNTER_CALLBACK_URLS).") var callbackUrls: String?
    @Option(help: "Name sent in an X-Served-By header on every response (HITCOUNTER_SERVER_NAME, default none).") var serverName: String?
    @Option(help: "Seconds between SIGTERM and closing the listener, while /readyz answers 503 (HITCOUNTER_SHUTDOWN_DELAY, default 0).")
    var shutdownDelay: String?
    @Option(help: "File holding the bearer token for POST /hit (HITCOUNTER_WRITE_TOKEN_FILE, or the token in HITCOUNTER_WRITE_TOKEN).")
    var writeTokenFile: String?
    @Option(help: "File holding the bearer token for GET /hits (HITCOUNTER_READ_TOKEN_FILE, or the token in HITCOUNTER_READ_TOKEN).")
    var readTokenFile: String?

    func run() async throws {
        let settings: ServerSettings
        do {
            settings = try ServerSettings(config: self.configReader())
        } catch {
            // One line, then a non-zero exit.
            throw ValidationError("\(error)")
        }
        // Run Swift concurrency on NIO's event loops: a request then no longer hops between Dispatch's
        // threads and NIO's on its way to Redis and back (measured: see docs/performance.md).
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                switch settings.logFormat {
                case .json: JSONLogHandler(label: label)
                case .text: StreamLogHandler.standardError(label: label)
                }
            handler.logLevel = settings.logLevel
            return handler
        }
        let logger = Logger(label: "hitcounter")
        logger.info(
            "starting",
            metadata: ["store": "\(settings.store.rawValue)", "redis.address": "\(settings.redis)", "max_range": "\(settings.maxRange)"]
        )
        let metrics = MetricsRoutes.bootstrap()
        let store = makeStore(settings, logger: logger)
        let drain = DrainState()
        let rollups: RollupService?
        do {
            rollups = try RollupService.make(settings, store: store, logger: logger)
        } catch {
            throw ValidationError("\(error)")
        }
        let app = buildApplication(settings, store: store, metrics: metrics, drain: drain, rollups: rollups, logger: logger)
        // SIGTERM reaches the drain first (services stop in reverse order), then the HTTP server.
        let services = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: DrainService(state: drain, delay: settings.shutdownDelay, logger: logger))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await services.run()
    }

    /// Flags first, then the environment.
    private func configReader() -> ConfigReader {
        let flags: [(Setting, String?)] = [
            (.hostname, self.hostname), (.port, self.port), (.store, self.store), (.redisURL, self.redisUrl),
            (.redisTimeout, self.redisTimeout), (.maxRange, self.maxRange), (.logLevel, self.logLevel), (.serverName, self.serverName),
            (.writeTokenFile, self.writeTokenFile), (.readTokenFile, self.readTokenFile), (.shutdownDelay, self.shutdownDelay),
            (.logFormat, self.logFormat), (.idleTimeout, self.idleTimeout), (.requestTimeout, self.requestTimeout),
            (.maxConnections, self.maxConnections), (.dedupPeriod, self.dedupPeriod), (.rollupLog, self.rollupLog),
            (.rollupLease, self.rollupLease), (.kafkaBrokers, self.kafkaBrokers), (.kafkaTopic, self.kafkaTopic),
            (.callbackUrls, self.callbackUrls),
        ]
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for case (let setting, let value?) in flags {
            values[AbsoluteConfigKey(setting.key)] = ConfigValue(.string(value), isSecret: false)
        }
        return ConfigReader(providers: [
            InMemoryProvider(name: "flags", values: values),
            EnvironmentVariablesProvider(secretsSpecifier: .specific(Set(Setting.allCases.filter(\.isSecret).map(\.environmentVariable)))),
        ])
    }
}
