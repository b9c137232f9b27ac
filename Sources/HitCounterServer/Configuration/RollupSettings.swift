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

    /// Reads the roll-up settings through `read`.
    mutating func read(_ read: (Setting) -> String?) throws(SettingsError) {
        if let log = read(.rollupLog) {
            switch log.lowercased() {
            case "true", "1", "on": self.log = true
            case "false", "0", "off": self.log = false
            default: throw SettingsError(.rollupLog, "must be true or false")
            }
        }
        if let brokers = read(.kafkaBrokers), !brokers.isEmpty {
            let list = brokers.split(separator: ",", omittingEmptySubsequences: false)
            guard list.allSatisfy({ $0.contains(":") && !$0.contains(" ") }) else {
                throw SettingsError(.kafkaBrokers, "must be host:port, comma separated")
            }
            self.kafkaBrokers = brokers
        }
        if let topic = read(.kafkaTopic) {
            // Kafka's rule for topic names.
            let allowed = topic.unicodeScalars.allSatisfy { $0.properties.isASCIIHexDigit || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || "._-".unicodeScalars.contains($0) }
            guard (1...249).contains(topic.utf8.count), allowed, topic != ".", topic != ".." else {
                throw SettingsError(.kafkaTopic, "must be 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'")
            }
            self.kafkaTopic = topic
        }
        if let urls = read(.callbackUrls), !urls.isEmpty {
            for url in urls.split(separator: ",").map(String.init) {
                guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8, !url.contains(" ") else {
                    throw SettingsError(.callbackUrls, "must be http:// or https:// URLs, comma separated")
                }
                self.callbackURLs.append(url)
            }
        }
        if let lease = read(.rollupLease) {
            self.lease = try ServerSettings.seconds(lease, setting: .rollupLease, in: 1...300)
        }
    }
}
