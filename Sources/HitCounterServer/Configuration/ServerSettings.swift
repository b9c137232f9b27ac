import Configuration
import Foundation
import HitCounter
import Logging

/// The service's settings, from flags first, then `HITCOUNTER_*` environment variables, then defaults.
///
/// Every value is read as text and checked here, so a bad one stops start-up with one line naming the
/// flag, its variable and what is expected.
struct ServerSettings: Sendable {
    enum StoreKind: String, Sendable, CaseIterable {
        case redis
        case memory
    }

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
    /// Where each closed minute's roll-up events go (Redis store only).
    var rollups = RollupSettings()
    /// Between SIGTERM and closing the listener, `/readyz` answers 503 and requests are still served.
    var shutdownDelay = Duration.zero

    init() {}

    /// Reads every setting from `config`, under the keys of `Setting`.
    init(config: ConfigReader) throws(SettingsError) {
        func read(_ setting: Setting) -> String? {
            config.string(forKey: setting.key, isSecret: setting.isSecret)
        }
        if let hostname = read(.hostname) {
            guard !hostname.isEmpty else { throw SettingsError(.hostname, "must not be empty") }
            self.hostname = hostname
        }
        if let port = read(.port) {
            guard let value = Int(port), (0...65535).contains(value) else { throw SettingsError(.port, "must be a port number from 0 to 65535") }
            self.port = value
        }
        if let store = read(.store) {
            guard let kind = StoreKind(rawValue: store) else { throw SettingsError(.store, "must be redis or memory") }
            self.store = kind
        }
        if let url = read(.redisURL) {
            do {
                self.redis = try RedisConfiguration(url: url)
            } catch {
                throw SettingsError(.redisURL, "is not usable: \(error)")
            }
        }
        if let password = read(.redisPassword) {
            self.redis.password = password
        }
        if let timeout = read(.redisTimeout) {
            guard let seconds = Double(timeout), seconds > 0, seconds <= 60 else {
                throw SettingsError(.redisTimeout, "must be a number of seconds above 0 and up to 60, such as 0.5")
            }
            self.redis.commandTimeout = .nanoseconds(Int64(seconds * 1_000_000_000))
            self.redis.connectTimeout = self.redis.commandTimeout
        }
        if let maxRange = read(.maxRange) {
            // Up to a year: the buckets of a counter then stay a few thousand keys at most.
            guard let value = Int(maxRange), (1...31_536_000).contains(value) else {
                throw SettingsError(.maxRange, "must be a number of seconds from 1 to 31536000")
            }
            self.maxRange = value
        }
        if let level = read(.logLevel) {
            guard let value = Logger.Level(rawValue: level.lowercased()) else {
                let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                throw SettingsError(.logLevel, "must be one of \(levels)")
            }
            self.logLevel = value
        }
        if let format = read(.logFormat) {
            guard let value = LogFormat(rawValue: format.lowercased()) else { throw SettingsError(.logFormat, "must be json or text") }
            self.logFormat = value
        }
        if let idle = read(.idleTimeout) {
            self.limits.idleTimeout = try Self.seconds(idle, setting: .idleTimeout, in: 0.1...3600)
        }
        if let request = read(.requestTimeout) {
            self.limits.requestTimeout = try Self.seconds(request, setting: .requestTimeout, in: 0.1...300)
        }
        if let connections = read(.maxConnections) {
            guard let value = Int(connections), (1...1_000_000).contains(value) else {
                throw SettingsError(.maxConnections, "must be a number from 1 to 1000000")
            }
            self.limits.maxConnections = value
        }
        if let period = read(.dedupPeriod) {
            guard let value = Int(period), (1...31_536_000).contains(value) else {
                throw SettingsError(.dedupPeriod, "must be a number of seconds from 1 to 31536000")
            }
            self.dedupPeriod = value
        } else {
            self.dedupPeriod = max(self.dedupPeriod, self.maxRange)
        }
        guard self.dedupPeriod >= self.maxRange else {
            throw SettingsError(.dedupPeriod, "must be at least the max range (\(self.maxRange) s), so the ids counted in a window are distinct")
        }
        try self.rollups.read(read)
        if self.store == .memory, self.rollups.kafkaBrokers != nil || !self.rollups.callbackURLs.isEmpty {
            throw SettingsError(.store, "must be redis for roll-ups to Kafka or callbacks: their state lives in Redis")
        }
        if let name = read(.serverName) {
            self.serverName = name.isEmpty ? nil : name
        }
        if let delay = read(.shutdownDelay) {
            self.shutdownDelay = try Self.seconds(delay, setting: .shutdownDelay, in: 0...60)
        }
        self.tokens.write = try Self.token(read(.writeToken), file: read(.writeTokenFile), setting: .writeToken, fileSetting: .writeTokenFile)
        self.tokens.read = try Self.token(read(.readToken), file: read(.readTokenFile), setting: .readToken, fileSetting: .readTokenFile)
    }

    /// A number of seconds within `bounds`, such as `0.5`.
    static func seconds(_ text: String, setting: Setting, in bounds: ClosedRange<Double>) throws(SettingsError) -> Duration {
        guard let seconds = Double(text), bounds.contains(seconds) else {
            let (lower, upper) = (Duration.seconds(bounds.lowerBound), Duration.seconds(bounds.upperBound))
            throw SettingsError(setting, "must be a number of seconds from \(lower.formattedSeconds) to \(upper.formattedSeconds)")
        }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// A token from its variable or from a file (trailing newline dropped); at least 16 bytes.
    private static func token(_ value: String?, file: String?, setting: Setting, fileSetting: Setting) throws(SettingsError) -> [UInt8]? {
        var token = value
        if let file {
            guard token == nil else { throw SettingsError(fileSetting, "and \(setting.environmentVariable) are both set; keep one") }
            guard let data = FileManager.default.contents(atPath: file) else { throw SettingsError(fileSetting, "names a file that cannot be read") }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let token else { return nil }
        guard token.utf8.count >= 16 else { throw SettingsError(setting, "must be at least 16 bytes long") }
        return Array(token.utf8)
    }
}

/// One setting: its configuration key, flag and environment variable.
enum Setting: String, CaseIterable, Sendable {
    case hostname
    case port
    case store
    case redisURL = "redisUrl"
    case redisPassword
    case redisTimeout
    case maxRange
    case logLevel
    case logFormat
    case idleTimeout
    case requestTimeout
    case maxConnections
    case serverName
    case shutdownDelay
    case dedupPeriod
    case rollupLog
    case rollupLease
    case kafkaBrokers
    case kafkaTopic
    case callbackUrls
    case writeToken
    case writeTokenFile
    case readToken
    case readTokenFile

    /// `hitcounter.maxRange`: swift-configuration reads it from `HITCOUNTER_MAX_RANGE`.
    var key: ConfigKey { ["hitcounter", self.rawValue] }

    /// `--max-range`.
    var flag: String {
        "--" + self.rawValue.reduce(into: "") { flag, character in
            if character.isUppercase { flag += "-" }
            flag += character.lowercased()
        }
    }

    /// `HITCOUNTER_MAX_RANGE`.
    var environmentVariable: String {
        "HITCOUNTER_" + self.flag.dropFirst(2).uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// Never logged; read from the environment only, since flags show in `ps`.
    var isSecret: Bool { self == .redisPassword || self == .writeToken || self == .readToken }
}

/// A setting that stops start-up: `--port / HITCOUNTER_PORT must be a port number from 0 to 65535`.
struct SettingsError: Error, CustomStringConvertible {
    let setting: Setting
    let problem: String

    init(_ setting: Setting, _ problem: String) {
        self.setting = setting
        self.problem = problem
    }

    var description: String {
        if self.setting.isSecret { return "\(self.setting.environmentVariable) \(self.problem)" }
        return "\(self.setting.flag) / \(self.setting.environmentVariable) \(self.problem)"
    }
}
