import Logging

/// swift-otel's diagnostics, on their way to the service's log, minus what any client controls. A
/// malformed `traceparent` makes swift-otel log a warning with the request's headers (`carrier`),
/// `Authorization` included, once per request: the headers are dropped, and the line is debug, so a
/// client cannot fill the log at warning. Secrets of the configuration are scrubbed by the service's
/// `RedactingLogHandler`, which this wraps.
struct OTelDiagnosticLogHandler: LogHandler {
    var wrapped: any LogHandler

    var metadata: Logger.Metadata {
        get { self.wrapped.metadata }
        set { self.wrapped.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { self.wrapped.metadataProvider }
        set { self.wrapped.metadataProvider = newValue }
    }

    var logLevel: Logger.Level {
        get { self.wrapped.logLevel }
        set { self.wrapped.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.wrapped[metadataKey: key] }
        set { self.wrapped[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if event.metadata?["carrier"] != nil {
            event.metadata?["carrier"] = nil
            event.level = min(event.level, .debug)
            guard event.level >= self.logLevel else { return }
        }
        self.wrapped.log(event: event)
    }
}
