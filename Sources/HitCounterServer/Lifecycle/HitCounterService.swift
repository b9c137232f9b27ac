import Hummingbird
import Logging
import ServiceLifecycle

/// The application, with readiness turned down first on SIGTERM: the drain is the last service, so
/// it hears SIGTERM first (a service group stops its services in reverse order), keeps serving for
/// `--shutdown-delay` with `/readyz` at 503, and only then lets the HTTP server stop and drain.
struct HitCounterService: Service {
    let application: Application<RouterResponder<BasicRequestContext>>
    let drain: DrainService
    let logger: Logger

    func run() async throws {
        try await ServiceGroup(configuration: .init(services: [self.application, self.drain], logger: self.logger)).run()
    }
}
