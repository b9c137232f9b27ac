import Configuration
import Foundation
import HitCounter
import Logging
import NIOCore

/// One setting, declared once: its name (the flag `--max-range` and the variable
/// `HITCOUNTER_MAX_RANGE` derive from it), what `--help` says of it, and how its text is checked and
/// read into `ServerSettings`. `Setting.all` is the whole list; flags, the environment, `--help` and
/// the README's table (checked by a test) all follow it.
struct Setting: Sendable, Hashable {
    /// `maxRange`: the configuration key under `hitcounter`.
    let name: String
    /// One line for `--help` and the README, with the default in it.
    let help: String
    /// Secrets come from the environment only (flags show in `ps`) and are never logged.
    let isSecret: Bool
    /// Checks `text` and stores it in `settings`.
    let apply: @Sendable (_ text: String, _ settings: inout ServerSettings) throws(SettingsError) -> Void

    init(
        _ name: String, _ help: String, secret: Bool = false,
        apply: @escaping @Sendable (_ text: String, _ settings: inout ServerSettings) throws(SettingsError) -> Void
    ) {
        self.name = name
        self.help = help
        self.isSecret = secret
        self.apply = apply
    }

    static func == (a: Setting, b: Setting) -> Bool { a.name == b.name }
    func hash(into hasher: inout Hasher) { hasher.combine(self.name) }

    /// `hitcounter.maxRange`.
    var key: ConfigKey { ["hitcounter", self.name] }

    /// `--max-range`.
    var flag: String {
        "--" + self.name.reduce(into: "") { flag, character in
            if character.isUppercase { flag += "-" }
            flag += character.lowercased()
        }
    }

    /// `HITCOUNTER_MAX_RANGE`.
    var environmentVariable: String {
        "HITCOUNTER_" + self.flag.dropFirst(2).uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// An error for this setting: `--port / HITCOUNTER_PORT must be ...`.
    func error(_ problem: String) -> SettingsError { SettingsError(self, problem) }
}

extension Setting {
    /// Every setting, in the order they are read (a later one may depend on an earlier one).
    static let all: [Setting] = [
        .hostname, .port, .store, .redisUrl, .redisMode, .redisWaitReplicas, .redisPassword, .redisTimeout, .redisTlsCa, .redisTlsCert, .redisTlsKey, .redisTlsInsecure, .maxRange, .logLevel, .logFormat, .idleTimeout,
        .requestTimeout, .maxConnections, .maxStreams, .dedupPeriod, .topKeys, .rollupLog, .kafkaBrokers, .kafkaTopic, .callbackUrls, .rollupLease,
        .serverName, .shutdownDelay, .writeToken, .writeTokenFile, .readToken, .readTokenFile, .adminToken, .adminTokenFile, .corsOrigins,
        .corsReadOrigins, .publicKeyPrefixes, .publicCountersPerMinute, .respectDoNotTrack, .maxBatch,
    ]

    static let hostname: Setting = Setting("hostname", "Address to listen on (default 127.0.0.1; 0.0.0.0 in a container).") { text, settings throws(SettingsError) in
        guard !text.isEmpty else { throw Setting.hostname.error("must not be empty") }
        guard Self.isHostname(text) else {
            throw Setting.hostname.error("must be an IPv4 or IPv6 address or a host name, such as 127.0.0.1 or 0.0.0.0")
        }
        settings.hostname = text
    }

    static let port: Setting = Setting("port", "Port to listen on (default 8080).") { text, settings throws(SettingsError) in
        guard let value = Int(text), (0...65535).contains(value) else { throw Setting.port.error("must be a port number from 0 to 65535") }
        settings.port = value
    }

    static let store: Setting = Setting("store", "Where hits are kept: redis, or memory (one process, lost on restart) (default redis).") { text, settings throws(SettingsError) in
        guard let kind = StoreKind(rawValue: text) else { throw Setting.store.error("must be redis or memory") }
        settings.store = kind
    }

    static let redisUrl: Setting = Setting(
        "redisUrl", "redis://[[user]:password@]host[:port][/db], rediss://... for TLS, or unix:///path?db=N (default redis://127.0.0.1:6379)."
    ) { text, settings throws(SettingsError) in
        do {
            settings.redis = try RedisConfiguration(url: text)
        } catch {
            throw Setting.redisUrl.error("is not usable: \(error)")
        }
    }

    static let redisMode: Setting = Setting(
        "redisMode", "auto (ask the server), standalone (one Redis) or cluster (a Redis Cluster; the URL may list several nodes, comma-separated) (default auto)."
    ) { text, settings throws(SettingsError) in
        guard let mode = RedisConfiguration.Mode(rawValue: text) else { throw Setting.redisMode.error("must be auto, standalone or cluster") }
        settings.redis.mode = mode
    }

    static let redisWaitReplicas: Setting = Setting(
        "redisWaitReplicas", "Replicas each write of hits must reach (WAIT) before they are acknowledged; fewer is a 503 (default 0: no wait)."
    ) { text, settings throws(SettingsError) in
        guard let replicas = Int(text), (0...16).contains(replicas) else { throw Setting.redisWaitReplicas.error("must be a number of replicas from 0 to 16") }
        settings.redis.waitReplicas = replicas
    }

    static let redisPassword: Setting = Setting("redisPassword", "Overrides the Redis URL's password.", secret: true) { text, settings throws(SettingsError) in
        settings.redis.password = text
    }

    static let redisTimeout: Setting = Setting("redisTimeout", "Seconds to connect to Redis or get a reply, then 503 (default 1).") { text, settings throws(SettingsError) in
        guard let seconds = Double(text), seconds > 0, seconds <= 60 else {
            throw Setting.redisTimeout.error("must be a number of seconds above 0 and up to 60, such as 0.5")
        }
        settings.redis.commandTimeout = .nanoseconds(Int64(seconds * 1_000_000_000))
        settings.redis.connectTimeout = settings.redis.commandTimeout
    }

    static let redisTlsCa: Setting = Setting("redisTlsCa", "PEM file of the CA that signed Redis's certificate, instead of the system's (rediss:// only; default none).") { text, settings throws(SettingsError) in
        let path = try Setting.redisTlsCa.readable(text)
        settings.redis.tls = try Setting.redisTlsCa.tls(settings) { $0.caFile = path }
    }

    static let redisTlsCert: Setting = Setting("redisTlsCert", "PEM file of a client certificate for mutual TLS, with --redis-tls-key (default none).") { text, settings throws(SettingsError) in
        let path = try Setting.redisTlsCert.readable(text)
        settings.redis.tls = try Setting.redisTlsCert.tls(settings) { $0.certificateFile = path }
    }

    static let redisTlsKey: Setting = Setting("redisTlsKey", "PEM file of the client certificate's key (default none).") { text, settings throws(SettingsError) in
        guard settings.redis.tls?.certificateFile != nil else { throw Setting.redisTlsKey.error("needs --redis-tls-cert too") }
        let path = try Setting.redisTlsKey.readable(text)
        settings.redis.tls = try Setting.redisTlsKey.tls(settings) { $0.keyFile = path }
    }

    static let redisTlsInsecure: Setting = Setting("redisTlsInsecure", "true: do not verify Redis's certificate at all (logged as a warning; default false).") { text, settings throws(SettingsError) in
        switch text.lowercased() {
        case "true": settings.redis.tls = try Setting.redisTlsInsecure.tls(settings) { $0.verifiesCertificate = false }
        case "false": break
        default: throw Setting.redisTlsInsecure.error("must be true or false")
        }
    }

    static let maxRange: Setting = Setting("maxRange", "The longest window, in seconds, up to a year; buckets expire after it (default 86400).") { text, settings throws(SettingsError) in
        // Up to a year: the buckets of a counter then stay a few thousand keys at most.
        guard let value = Int(text), (1...31_536_000).contains(value) else {
            throw Setting.maxRange.error("must be a number of seconds from 1 to 31536000")
        }
        settings.maxRange = value
    }

    static let logLevel: Setting = Setting("logLevel", "trace, debug, info, notice, warning, error or critical; debug adds a line per request (default info).") { text, settings throws(SettingsError) in
        guard let value = Logger.Level(rawValue: text.lowercased()) else {
            throw Setting.logLevel.error("must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        settings.logLevel = value
    }

    static let logFormat: Setting = Setting("logFormat", "json (one object per line, for log collectors) or text (for a terminal) (default json).") { text, settings throws(SettingsError) in
        guard let value = ServerSettings.LogFormat(rawValue: text.lowercased()) else { throw Setting.logFormat.error("must be json or text") }
        settings.logFormat = value
    }

    static let idleTimeout: Setting = Setting("idleTimeout", "Seconds before an idle connection, or one still sending its headers, is closed (default 75).") { text, settings throws(SettingsError) in
        settings.limits.idleTimeout = try Setting.idleTimeout.seconds(text, in: 0.1...3600)
    }

    static let requestTimeout: Setting = Setting("requestTimeout", "Seconds a client may take to send a request body; then 408 (default 10).") { text, settings throws(SettingsError) in
        settings.limits.requestTimeout = try Setting.requestTimeout.seconds(text, in: 0.1...300)
    }

    static let maxConnections: Setting = Setting("maxConnections", "Open connections at most; more wait in the accept queue until one closes (default 1000).") { text, settings throws(SettingsError) in
        guard let value = Int(text), (1...1_000_000).contains(value) else { throw Setting.maxConnections.error("must be a number from 1 to 1000000") }
        settings.limits.maxConnections = value
    }

    static let topKeys: Setting = Setting("topKeys", "Keep per-minute and per-hour top sets for GET /top: true or false (false saves two Redis commands per counter per call; default true).") { text, settings throws(SettingsError) in
        switch text.lowercased() {
        case "true": settings.topKeys = true
        case "false": settings.topKeys = false
        default: throw Setting.topKeys.error("must be true or false")
        }
    }

    static let maxStreams: Setting = Setting("maxStreams", "Open GET /stream connections at most; more are answered 503 (default 100).") { text, settings throws(SettingsError) in
        guard let value = Int(text), (0...100_000).contains(value) else { throw Setting.maxStreams.error("must be a number from 0 to 100000") }
        settings.limits.maxStreams = value
    }

    static let dedupPeriod: Setting = Setting("dedupPeriod", "Seconds a hit's id is remembered; at least the max range (default 86400, or the max range if longer).") { text, settings throws(SettingsError) in
        guard let value = Int(text), (1...31_536_000).contains(value) else {
            throw Setting.dedupPeriod.error("must be a number of seconds from 1 to 31536000")
        }
        settings.dedupPeriod = value
    }

    static let rollupLog: Setting = Setting("rollupLog", "Log each roll-up event: true or false (default true).") { text, settings throws(SettingsError) in
        switch text.lowercased() {
        case "true", "1", "on": settings.rollups.log = true
        case "false", "0", "off": settings.rollups.log = false
        default: throw Setting.rollupLog.error("must be true or false")
        }
    }

    static let kafkaBrokers: Setting = Setting("kafkaBrokers", "Kafka brokers host:port,... for roll-up events (default none).") { text, settings throws(SettingsError) in
        guard !text.isEmpty else { return }
        guard text.split(separator: ",", omittingEmptySubsequences: false).allSatisfy({ $0.contains(":") && !$0.contains(" ") }) else {
            throw Setting.kafkaBrokers.error("must be host:port, comma separated")
        }
        settings.rollups.kafkaBrokers = text
    }

    static let kafkaTopic: Setting = Setting("kafkaTopic", "Kafka topic for roll-up events (default hitcounter-rollups).") { text, settings throws(SettingsError) in
        // Kafka's rule for topic names.
        let allowed = text.unicodeScalars.allSatisfy {
            $0.properties.isASCIIHexDigit || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || "._-".unicodeScalars.contains($0)
        }
        guard (1...249).contains(text.utf8.count), allowed, text != ".", text != ".." else {
            throw Setting.kafkaTopic.error("must be 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'")
        }
        settings.rollups.kafkaTopic = text
    }

    static let callbackUrls: Setting = Setting("callbackUrls", "Callback URLs a hit may name, comma separated (default none).") { text, settings throws(SettingsError) in
        for url in text.split(separator: ",").map(String.init) {
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8, !url.contains(" ") else {
                throw Setting.callbackUrls.error("must be http:// or https:// URLs, comma separated")
            }
            settings.rollups.callbackURLs.append(url)
        }
    }

    static let rollupLease: Setting = Setting("rollupLease", "Seconds the roll-up lock outlives a replica that stopped renewing it (default 10).") { text, settings throws(SettingsError) in
        settings.rollups.lease = try Setting.rollupLease.seconds(text, in: 1...300)
    }

    static let serverName: Setting = Setting("serverName", "Name sent in an X-Served-By header on every answer (default none).") { text, settings throws(SettingsError) in
        settings.serverName = text.isEmpty ? nil : text
    }

    static let shutdownDelay: Setting = Setting("shutdownDelay", "Seconds between SIGTERM and closing the listener, while /readyz answers 503 (default 0).") { text, settings throws(SettingsError) in
        settings.shutdownDelay = try Setting.shutdownDelay.seconds(text, in: 0...60)
    }

    static let writeToken: Setting = Setting("writeToken", "Bearer token POST /hit needs, 16 bytes or more (default none).", secret: true) { text, settings throws(SettingsError) in
        settings.tokens.write = try Setting.writeToken.token(text)
    }

    static let writeTokenFile: Setting = Setting("writeTokenFile", "The write token, from a file such as a mounted Secret (default none).") { text, settings throws(SettingsError) in
        guard settings.tokens.write == nil else { throw Setting.writeTokenFile.error("and HITCOUNTER_WRITE_TOKEN are both set; keep one") }
        settings.tokens.write = try Setting.writeToken.token(Setting.writeTokenFile.file(text))
    }

    static let readToken: Setting = Setting("readToken", "Bearer token GET /hits needs (the write token opens reads too) (default none).", secret: true) { text, settings throws(SettingsError) in
        settings.tokens.read = try Setting.readToken.token(text)
    }

    static let readTokenFile: Setting = Setting("readTokenFile", "The read token, from a file (default none).") { text, settings throws(SettingsError) in
        guard settings.tokens.read == nil else { throw Setting.readTokenFile.error("and HITCOUNTER_READ_TOKEN are both set; keep one") }
        settings.tokens.read = try Setting.readToken.token(Setting.readTokenFile.file(text))
    }
}

extension Setting {
    static let adminToken: Setting = Setting("adminToken", "Bearer token GET /keys and DELETE /counters/{key} need; without one they are 404 (default none).", secret: true) { text, settings throws(SettingsError) in
        settings.tokens.admin = try Setting.adminToken.token(text)
    }

    static let adminTokenFile: Setting = Setting("adminTokenFile", "The admin token, from a file (default none).") { text, settings throws(SettingsError) in
        guard settings.tokens.admin == nil else { throw Setting.adminTokenFile.error("and HITCOUNTER_ADMIN_TOKEN are both set; keep one") }
        settings.tokens.admin = try Setting.adminToken.token(Setting.adminTokenFile.file(text))
    }

    static let corsOrigins: Setting = Setting("corsOrigins", "Origins whose pages may count (POST /hit, /hit/batch): https://example.com,... or * (default none).") { text, settings throws(SettingsError) in
        settings.web.countOrigins = try Setting.corsOrigins.origins(text)
    }

    static let corsReadOrigins: Setting = Setting("corsReadOrigins", "Origins whose pages may read counts (GET /hits, /series, /top, /stream, /badge.svg): as --cors-origins (default none).") { text, settings throws(SettingsError) in
        settings.web.readOrigins = try Setting.corsReadOrigins.origins(text)
    }

    static let publicKeyPrefixes: Setting = Setting("publicKeyPrefixes", "Key prefixes anyone may count (one hit at a time, no id, no batch) and read without a token, comma separated, such as page: (default none).") { text, settings throws(SettingsError) in
        let prefixes = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !prefixes.contains(where: \.isEmpty) || text.isEmpty else { throw Setting.publicKeyPrefixes.error("must not hold an empty prefix (it would make every key public)") }
        settings.tokens.publicKeyPrefixes = prefixes
    }

    static let publicCountersPerMinute: Setting = Setting("publicCountersPerMinute", "Distinct counters under each public prefix that clients without a token may count per minute, per replica; more are 429 (default 300).") { text, settings throws(SettingsError) in
        guard let value = Int(text), (1...1_000_000).contains(value) else { throw Setting.publicCountersPerMinute.error("must be an integer from 1 to 1000000") }
        settings.web.publicCountersPerMinute = value
    }

    static let respectDoNotTrack: Setting = Setting("respectDoNotTrack", "true: hits without a token from browsers sending DNT: 1 or Sec-GPC: 1 are not counted (default false).") { text, settings throws(SettingsError) in
        switch text.lowercased() {
        case "true": settings.web.respectsDoNotTrack = true
        case "false": settings.web.respectsDoNotTrack = false
        default: throw Setting.respectDoNotTrack.error("must be true or false")
        }
    }

    static let maxBatch: Setting = Setting("maxBatch", "Hits one POST /hit/batch may carry, 1 to 1000 (default 100).") { text, settings throws(SettingsError) in
        guard let value = Int(text), HitCounter.batchBounds.contains(value) else { throw Setting.maxBatch.error("must be an integer from 1 to 1000") }
        settings.web.maxBatch = value
    }

    /// A list of origins, or `*`. Each is written as browsers send `Origin` (RFC 6454 6.1): the scheme
    /// and host in lower case, the port only when it is not the scheme's default, so an origin that
    /// would never match (`https://Blog.example:443`) is made one that does. Wildcards inside a list, a
    /// path, a user or a host beyond ASCII (write its `xn--` form) are refused.
    func origins(_ text: String) throws(SettingsError) -> WebCounting.Origins {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if items.isEmpty { return .none }
        if items == ["*"] { return .any }
        var origins: Set<String> = []
        for origin in items {
            guard let normalized = Self.serializedOrigin(origin) else {
                throw self.error(
                    "must be * alone or origins such as https://example.com (a scheme, a host and maybe a port; no path, no wildcard), comma separated: \(origin) is not one"
                )
            }
            origins.insert(normalized)
        }
        return .exactly(origins)
    }

    /// `origin` as a browser serializes it, or nil when it is not an http(s) origin.
    static func serializedOrigin(_ origin: String) -> String? {
        guard origin.allSatisfy(\.isASCII), !origin.contains("*"), let url = URL(string: origin), let scheme = url.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = url.host?.lowercased(), !host.isEmpty, url.path.isEmpty || url.path == "/", url.query == nil,
            url.fragment == nil, url.user == nil, url.password == nil
        else { return nil }
        let defaultPort = scheme == "https" ? 443 : 80
        let port = url.port.flatMap { $0 == defaultPort ? nil : $0 }
        let bracketed = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(scheme)://\(bracketed)" + (port.map { ":\($0)" } ?? "")
    }

    /// The Redis TLS settings changed by `change`; refused unless the URL is `rediss://`.
    func tls(_ settings: ServerSettings, _ change: (inout RedisTLS) -> Void) throws(SettingsError) -> RedisTLS {
        guard var tls = settings.redis.tls else { throw self.error("needs a rediss:// Redis URL (--redis-url / HITCOUNTER_REDIS_URL)") }
        change(&tls)
        return tls
    }

    /// A path to a file this process can read (read again at every connection, so a rotated file counts).
    func readable(_ path: String) throws(SettingsError) -> String {
        guard FileManager.default.isReadableFile(atPath: path) else { throw self.error("names a file that cannot be read") }
        return path
    }

    /// A number of seconds within `bounds`, such as `0.5`.
    func seconds(_ text: String, in bounds: ClosedRange<Double>) throws(SettingsError) -> Duration {
        guard let seconds = Double(text), bounds.contains(seconds) else {
            let (lower, upper) = (Duration.seconds(bounds.lowerBound), Duration.seconds(bounds.upperBound))
            throw self.error("must be a number of seconds from \(lower.formattedSeconds) to \(upper.formattedSeconds)")
        }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// A token: at least 16 bytes.
    func token(_ text: String) throws(SettingsError) -> [UInt8] {
        guard text.utf8.count >= 16 else { throw self.error("must be at least 16 bytes long") }
        return Array(text.utf8)
    }

    /// A file's text, its surrounding whitespace (a trailing newline) dropped.
    func file(_ path: String) throws(SettingsError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw self.error("names a file that cannot be read") }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// An IPv4 or IPv6 literal NIO can parse, or a name made of DNS's letters (a name that looks like
    /// an IPv4 address but is not one, such as 999.1.1.1, is refused here rather than at bind time).
    static func isHostname(_ text: String) -> Bool {
        if (try? SocketAddress(ipAddress: text, port: 0)) != nil { return true }
        let isDottedNumbers = text.allSatisfy { $0.isASCII && ($0.isNumber || $0 == ".") }
        return !text.isEmpty && text.utf8.count <= 253 && !isDottedNumbers && !text.contains(":")
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
    }
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
