#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import HitCounter
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Tracing

/// `HitCounterServer`: reads its settings, sets up logging and metrics, builds the service and runs it
/// until SIGTERM or SIGINT. Every mistake that stops start-up is one line: `Error: <what is wrong>`.
@main
enum HitCounterServer {
    static func main() async {
        let settings: ServerSettings
        do {
            switch try CommandLineFlags.parse(Array(CommandLine.arguments.dropFirst())) {
            case .help:
                print(CommandLineFlags.help, terminator: "")
                return
            case .run(let flags):
                settings = try ServerSettings(config: ServerSettings.reader(flags: flags))
            }
        } catch {
            Self.stop("\(error)")
        }
        // Run Swift concurrency on NIO's event loops: a request then no longer hops between Dispatch's
        // threads and NIO's on its way to Redis and back (measured: see docs/performance.md).
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        let environment = ProcessInfo.processInfo.environment
        let tracing = OTelTracing.isRequested(by: environment)
        // Whoever writes a line (this service, Hummingbird, swift-otel), no configured secret is in it.
        let secrets = LogSecrets(settings: settings, environment: environment)
        LoggingSystem.bootstrap({ label, metadataProvider in
            var handler: any LogHandler =
                switch settings.logFormat {
                case .json: JSONLogHandler(label: label, metadataProvider: metadataProvider)
                case .text: StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
                }
            handler.logLevel = settings.logLevel
            return RedactingLogHandler(handler, secrets: secrets)
        }, metadataProvider: tracing ? OTelTracing.logMetadata : nil)
        let logger = Logger(label: "hitcounter")
        var metadata: Logger.Metadata = ["store": "\(settings.store.rawValue)", "max_range": "\(settings.maxRange)"]
        if settings.store == .redis { metadata["redis.address"] = "\(settings.redis)" }
        logger.info("starting", metadata: metadata)
        if settings.store == .redis, settings.redis.tls?.verifiesCertificate == false {
            logger.warning("TLS to Redis does NOT verify Redis's certificate (--redis-tls-insecure): anyone on the path can read and change what is sent")
        }
        do {
            var services: [any Service] = []
            var tracer: (any Tracer)?
            if tracing {
                let otel = try OTelTracing.start(logger: logger)
                // Hummingbird's tracing middleware takes the tracer from here.
                InstrumentationSystem.bootstrap(otel.tracer)
                tracer = otel.tracer
                // First, so it stops last: spans of the last requests are exported.
                services.append(otel.exporter)
                logger.info("tracing: spans go to the OTLP endpoint OTEL_EXPORTER_OTLP_ENDPOINT names")
            }
            services.append(try buildApplication(settings, metrics: MetricsRoutes.bootstrap(), tracer: tracer, logger: logger))
            try await ServiceGroup(
                configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            ).run()
        } catch {
            Self.stop(Self.explain(error, settings))
        }
    }

    /// What went wrong, in terms of the settings that can fix it.
    static func explain(_ error: any Error, _ settings: ServerSettings) -> String {
        let address = "\(settings.hostname):\(settings.port)"
        switch (error as? IOError)?.errnoCode {
        case EADDRINUSE: return "\(Setting.port.flag) / \(Setting.port.environmentVariable): \(address) is already in use"
        case EADDRNOTAVAIL: return "\(Setting.hostname.flag) / \(Setting.hostname.environmentVariable): \(settings.hostname) is not an address of this machine"
        case EACCES: return "\(Setting.port.flag) / \(Setting.port.environmentVariable): listening on \(address) needs privileges this process lacks"
        default: break
        }
        if error is SocketAddressError || error is NIOConnectionError {
            return "\(Setting.hostname.flag) / \(Setting.hostname.environmentVariable): cannot listen on \(settings.hostname): \(error)"
        }
        return "cannot run: \(error)"
    }

    /// One line on stderr, and a non-zero exit.
    static func stop(_ message: String) -> Never {
        let line = "Error: \(message)\n"
        line.withCString { _ = write(STDERR_FILENO, $0, strlen($0)) }
        exit(1)
    }
}
