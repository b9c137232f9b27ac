import HitCounter
import Logging

/// Every log line of the process goes through this: each configured secret (`LogSecrets`) is replaced
/// by `REDACTED` wherever it shows, in the message, the metadata or the error, whoever logs the line
/// (our code, Hummingbird, swift-otel's diagnostics). Our own lines never name a secret; this holds the
/// lines of libraries that print what they were configured with.
///
/// It keeps the metadata itself (a library may set a logger's metadata to a secret before logging),
/// so the handler it wraps sees only what was scrubbed.
struct RedactingLogHandler: LogHandler {
    private var wrapped: any LogHandler
    private let secrets: LogSecrets
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(_ wrapped: any LogHandler, secrets: LogSecrets) {
        var wrapped = wrapped
        self.metadataProvider = wrapped.metadataProvider
        wrapped.metadataProvider = nil
        self.wrapped = wrapped
        self.secrets = secrets
    }

    var logLevel: Logger.Level {
        get { self.wrapped.logLevel }
        set { self.wrapped.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = self.metadata
        if let provided = self.metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let metadata = event.metadata { merged.merge(metadata) { _, new in new } }
        var event = event
        event.metadata = merged.isEmpty ? nil : merged.mapValues(self.secrets.scrubbed)
        event.message = "\(self.secrets.scrubbed(event.message.description))"
        if let error = event.error { event.error = RedactedError(description: self.secrets.scrubbed("\(error)")) }
        self.wrapped.log(event: event)
    }

    /// An error as its scrubbed description.
    private struct RedactedError: Error, CustomStringConvertible {
        let description: String
    }
}

/// The values that must never reach a log: tokens, the Redis password, the OTLP exporter's headers, and
/// the credentials and query values of configured URLs (callbacks, OTLP endpoints).
struct LogSecrets: Sendable {
    /// Longest first, so a secret that holds another is replaced whole.
    let values: [String]

    /// Shorter values are not replaced: they would blank out ordinary words.
    static let minimumLength = 4

    init(_ values: some Sequence<String>) {
        self.values = Set(values.filter { $0.utf8.count >= Self.minimumLength }).sorted { $0.utf8.count > $1.utf8.count }
    }

    /// The secrets of `settings` and of the `OTEL_*` variables of `environment` that can hold one.
    init(settings: ServerSettings, environment: [String: String]) {
        var values: [String] = []
        for token in [settings.tokens.write, settings.tokens.read, settings.tokens.admin].compactMap({ $0 }) {
            values.append(String(decoding: token, as: UTF8.self))
        }
        if let password = settings.redis.password { values.append(password) }
        values += settings.rollups.callbackURLs.flatMap(Self.urlSecrets)
        for (name, value) in environment where name.hasPrefix("OTEL_") {
            if name.hasSuffix("_HEADERS") {
                values += Self.headerSecrets(value)
            } else if name.hasSuffix("_ENDPOINT") {
                values += Self.urlSecrets(value)
            }
        }
        self.init(values)
    }

    func scrubbed(_ text: String) -> String {
        var text = text
        for secret in self.values where text.contains(secret) {
            text = text.replacing(secret, with: "REDACTED")
        }
        return text
    }

    func scrubbed(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let string): .string(self.scrubbed(string))
        case .stringConvertible(let convertible): .string(self.scrubbed(convertible.description))
        case .array(let values): .array(values.map(self.scrubbed))
        case .dictionary(let dictionary): .dictionary(dictionary.mapValues(self.scrubbed))
        }
    }

    /// `key=value,key2=value2` (W3C baggage form, values may be percent-encoded): each value as sent and
    /// decoded, and the credential after an auth scheme (`Bearer <credential>`).
    static func headerSecrets(_ text: String) -> [String] {
        text.split(separator: ",").flatMap { pair -> [String] in
            guard let equals = pair.firstIndex(of: "=") else { return [] }
            let raw = String(pair[pair.index(after: equals)...]).trimmingWhitespace
            let decoded = raw.removingPercentEncodingOrSelf
            return [raw, decoded] + [raw, decoded].compactMap { value in
                value.split(separator: " ", maxSplits: 1).dropFirst().first.map { String($0).trimmingWhitespace }
            }
        }
    }

    /// A URL's user information (`user:password@`), its password, and its query's values.
    static func urlSecrets(_ url: String) -> [String] {
        var secrets: [String] = []
        let afterScheme = url.range(of: "://").map { url[$0.upperBound...] } ?? url[...]
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            secrets.append(String(userInfo))
            if let colon = userInfo.firstIndex(of: ":") {
                let password = String(userInfo[userInfo.index(after: colon)...])
                secrets += [password, password.removingPercentEncodingOrSelf]
            }
        }
        if let question = url.firstIndex(of: "?") {
            let query = url[url.index(after: question)...].prefix { $0 != "#" }
            for pair in query.split(separator: "&") {
                guard let equals = pair.firstIndex(of: "=") else { continue }
                let value = String(pair[pair.index(after: equals)...])
                secrets += [value, value.removingPercentEncodingOrSelf]
            }
        }
        return secrets
    }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }

    fileprivate var removingPercentEncodingOrSelf: String {
        PercentDecoding.decode(self.utf8).map { String(decoding: $0, as: UTF8.self) } ?? self
    }
}
