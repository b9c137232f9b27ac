import HitCounter
import ServiceLifecycle

/// Closes the store once the services after it (the HTTP server) have stopped.
struct StoreService: Service {
    let store: any HitStore

    func run() async throws {
        // Wait for SIGTERM (or the end of the group); cancellation means the same here.
        try? await gracefulShutdown()
        self.store.shutdown()
    }
}
