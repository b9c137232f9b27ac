import Configuration
import HitCounter
import Logging

/// The service's settings, from flags first, then `HITCOUNTER_*` environment variables, then defaults.
///
/// Each is declared once, in `Setting.all`, and read as text and checked there, so a bad value stops
/// start-up with one line naming the flag, its variable and what is expected.
struct ServerSettings: Sendable {
    /// JSON lines for log collectors (the default), or swift-log's text for a terminal.
    enum LogFormat: String, Sendable, CaseIterable {
        case json
        case text
    }

    var hostname = "127.0.0.1"
    var port = 8080
    var store = StoreKind.redis
    var redis = RedisConfiguration()
    var maxRange = 86_400
    var logLevel = Logger.Level.info
    var logFormat = LogFormat.json
    /// What one client may hold: connections, time and header bytes.
    var limits = HTTPLimits()
    /// Names this instance in an `X-Served-By` header, so a load test can see how a balancer spreads
    /// requests. No header when nil.
    var serverName: String?
    /// Bearer tokens: with one set, `POST /hit` (write) or `GET /hits` (read, which the write token also
    /// opens) needs it. From the environment or a file, never a flag, never logged.
    var tokens = AccessTokens()
    /// How long a hit's id is remembered, in seconds; at least `maxRange` (its default when that is
    /// longer than a day), so the ids counted in any window are distinct.
    var dedupPeriod = 86_400
    /// Whether hits add to the top sets `GET /top` reads (docs/top-keys.md).
    var topKeys = true
    /// Where each closed minute's roll-up events go (Redis store only).
    var rollups = RollupSettings()
    /// Counting from web pages: CORS origins, public counters, Do-Not-Track, batch size.
    var web = WebCounting()
    /// Between SIGTERM and closing the listener, `/readyz` answers 503 and requests are still served.
    var shutdownDelay = Duration.zero

    init() {}

    /// Reads every setting of `Setting.all` from `config`, then checks the ones that depend on each other.
    init(config: ConfigReader) throws(SettingsError) {
        for setting in Setting.all {
            if let text = config.string(forKey: setting.key, isSecret: setting.isSecret) {
                try setting.apply(text, &self)
            }
        }
        if config.string(forKey: Setting.dedupPeriod.key) == nil {
            self.dedupPeriod = max(self.dedupPeriod, self.maxRange)
        }
        guard self.dedupPeriod >= self.maxRange else {
            throw Setting.dedupPeriod.error("must be at least the max range (\(self.maxRange) s), so the ids counted in a window are distinct")
        }
        if let tls = self.redis.tls, tls.certificateFile != nil, tls.keyFile == nil {
            throw Setting.redisTlsCert.error("needs --redis-tls-key / HITCOUNTER_REDIS_TLS_KEY too")
        }
        if self.store == .memory, self.rollups.kafkaBrokers != nil || !self.rollups.callbackURLs.isEmpty {
            throw Setting.store.error("must be redis for roll-ups to Kafka or callbacks: their state lives in Redis")
        }
    }

    /// Flags first, then the environment: the reader every setting is read from.
    static func reader(flags: [Setting: String], environment: [String: String]? = nil) -> ConfigReader {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (setting, value) in flags {
            values[AbsoluteConfigKey(setting.key)] = ConfigValue(.string(value), isSecret: false)
        }
        let secrets = SecretsSpecifier<String, String>.specific(Set(Setting.all.filter(\.isSecret).map(\.environmentVariable)))
        let environmentProvider =
            environment.map { EnvironmentVariablesProvider(environmentVariables: $0, secretsSpecifier: secrets) }
            ?? EnvironmentVariablesProvider(secretsSpecifier: secrets)
        return ConfigReader(providers: [InMemoryProvider(name: "flags", values: values), environmentProvider])
    }
}

/// Where each closed minute's roll-up events go; see docs/exactly-once.md. Several sinks may be on.
struct RollupSettings: Sendable {
    /// A JSON log line per event.
    var log = true
    /// Brokers (`host:port,...`) of the Kafka sink; off when nil.
    var kafkaBrokers: String?
    var kafkaTopic = "hitcounter-rollups"
    /// The callbacks a hit may name (`callback=<url>`); each gets the events of the counters that named it.
    var callbackURLs: [String] = []
    /// How long the roll-up lock outlives its holder.
    var lease = Duration.seconds(10)
}
