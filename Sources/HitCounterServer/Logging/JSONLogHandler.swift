#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
import Darwin
#endif
import HitCounter
import Logging

/// swift-log's `StreamLogHandler`, but one JSON object per line, for log collectors:
/// `{"time":"2026-11-21T07:00:00.123Z","level":"info","label":"hitcounter","message":"starting","store":"redis"}`.
///
/// Metadata keys go beside the fixed fields (a key that collides with one is written as `metadata.<key>`).
/// No logging package among our dependencies writes JSON, and this is the whole of it.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    private static let fixedFields: Set<String> = ["time", "level", "label", "message", "error", "source", "file", "line"]

    func log(event: LogEvent) {
        var line = #"{"time":"# + JSONString.quoted(Self.timestamp())
        line += #","level":"# + JSONString.quoted(event.level.rawValue)
        line += #","label":"# + JSONString.quoted(self.label)
        line += #","message":"# + JSONString.quoted(event.message.description)
        var merged = self.metadata
        if let provided = self.metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let metadata = event.metadata { merged.merge(metadata) { _, new in new } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            let name = Self.fixedFields.contains(key) ? "metadata." + key : key
            line += "," + JSONString.quoted(name) + ":" + Self.json(value)
        }
        if let error = event.error {
            line += #","error":"# + JSONString.quoted("\(error)")
        }
        if event.level >= .warning {
            line += #","source":"# + JSONString.quoted(event.source) + #","file":"# + JSONString.quoted(event.file) + #","line":"# + String(event.line)
        }
        line += "}\n"
        // One write(2) per line, so lines from different threads never interleave.
        line.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
    }

    private static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let string): JSONString.quoted(string)
        case .stringConvertible(let convertible): JSONString.quoted(convertible.description)
        case .array(let values): "[" + values.map(Self.json).joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            "{" + dictionary.sorted(by: { $0.key < $1.key }).map { JSONString.quoted($0.key) + ":" + Self.json($0.value) }.joined(separator: ",") + "}"
        }
    }

    /// UTC with milliseconds, in RFC 3339: `2026-11-21T07:00:00.123Z`.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : String(value) }
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        let fraction = milliseconds < 10 ? "00\(milliseconds)" : milliseconds < 100 ? "0\(milliseconds)" : String(milliseconds)
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }
}
