import Logging
import OTel
import ServiceLifecycle
import Tracing

/// OpenTelemetry tracing: on when the standard variables say where spans go
/// (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), off otherwise, and then
/// free: there is no tracer, so neither the hot routes nor the library make a span. swift-otel reads
/// the other `OTEL_*` variables (service name, sampler, protocol, headers). See docs/tracing.md.
enum OTelTracing {
    /// Whether `environment` asks for spans to be exported.
    static func isRequested(by environment: [String: String]) -> Bool {
        let endpoint = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"].contains { !(environment[$0] ?? "").isEmpty }
        let disabled = environment["OTEL_SDK_DISABLED"]?.lowercased() == "true" || environment["OTEL_TRACES_EXPORTER"]?.lowercased() == "none"
        return endpoint && !disabled
    }

    /// The tracer, and the service that exports its spans in batches (to run beside the application,
    /// so that it flushes what is left when the service stops). Traces only: logs and metrics have
    /// their own ways out (stderr, `/metrics`).
    static func start(logger: Logger) throws -> (tracer: any Tracer, exporter: any Service) {
        var configuration = OTel.Configuration.default
        configuration.serviceName = "hitcounter"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.diagnosticLogger = .custom(Logger(label: logger.label) { _ in OTelDiagnosticLogHandler(wrapped: logger.handler) })
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        return (backend.factory, backend.service)
    }

    /// Log metadata with the trace and span ids of the current span (`trace_id`, `span_id`), so a
    /// traced request's log lines can be found from its trace.
    static var logMetadata: Logger.MetadataProvider {
        OTel.makeLoggingMetadataProvider()
    }
}
