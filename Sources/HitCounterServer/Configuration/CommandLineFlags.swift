/// The service's command line: `--name value` or `--name=value` for each setting that is not a secret,
/// and `--help`. Read from `Setting.all`, so a setting is declared once.
///
/// Ours rather than swift-argument-parser's: that would declare every setting a second time as a
/// property, and it reads a value such as `-1` as a flag (`--redis-timeout -1` said "Missing value").
/// Here any word after a flag is its value, and every mistake is one line.
enum CommandLineFlags {
    enum Parsed {
        case run([Setting: String])
        case help
    }

    /// A mistake on the command line, in one line.
    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    static func parse(_ arguments: [String]) throws(UsageError) -> Parsed {
        var values: [Setting: String] = [:]
        var words = arguments[...]
        while let word = words.popFirst() {
            if word == "--help" || word == "-h" { return .help }
            guard word.hasPrefix("--") else { throw UsageError(description: "unexpected argument \(word); see --help") }
            let (flag, inline) = word.firstIndex(of: "=").map { (String(word[..<$0]), String(word[word.index(after: $0)...])) } ?? (word, nil)
            guard let setting = Setting.all.first(where: { $0.flag == flag && !$0.isSecret }) else {
                let secret = Setting.all.first { $0.flag == flag }
                throw UsageError(description: secret.map { "\(flag) is read from \($0.environmentVariable) only, so it never shows in ps" }
                    ?? "unknown option \(flag); see --help")
            }
            guard let value = inline ?? words.popFirst() else { throw UsageError(description: "\(flag) needs a value; see --help") }
            values[setting] = value
        }
        return .run(values)
    }

    /// What `--help` prints.
    static var help: String {
        var text = """
            HitCounterServer: a sliding-window hit counter over HTTP, stored in Redis.

            Usage: HitCounterServer [--setting value ...]
            Each setting can also be given by its environment variable; a flag wins over the environment.


            """
        for setting in Setting.all {
            let name = setting.isSecret ? setting.environmentVariable : "\(setting.flag) (\(setting.environmentVariable))"
            text += "  \(name)\n      \(setting.help)\n"
        }
        text += "\nTracing: set OTEL_EXPORTER_OTLP_ENDPOINT to a collector's OTLP/HTTP address; the other OTEL_* variables apply (docs/tracing.md).\n"
        return text
    }
}
