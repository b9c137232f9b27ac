import Logging
import ServiceLifecycle
import Synchronization

/// Whether the service is shutting down: set on SIGTERM, before the listener closes.
final class DrainState: Sendable {
    private let draining = Atomic<Bool>(false)

    var isDraining: Bool { self.draining.load(ordering: .relaxed) }

    func start() { self.draining.store(true, ordering: .relaxed) }
}

/// The first service to hear SIGTERM (it is listed after the application, and a service group stops
/// its services in reverse order, each after the previous one has finished). It turns `/readyz` to
/// 503, keeps serving for `delay` so balancers that poll readiness move away, and only then lets the
/// HTTP server stop accepting and drain.
struct DrainService: Service, CustomStringConvertible {
    let state: DrainState
    let delay: Duration
    let logger: Logger

    /// How service-lifecycle names it in its logs.
    var description: String { "DrainService" }

    func run() async throws {
        // Returns on SIGTERM/SIGINT; throws if the group is cancelled instead, which ends this too.
        try await gracefulShutdown()
        self.state.start()
        self.logger.info("draining: readiness now answers 503", metadata: ["shutdown_delay": "\(self.delay)"])
        try? await Task.sleep(for: self.delay)
    }
}
