import HitCounter
import Hummingbird

/// `GET /healthz` (the process answers) and `GET /readyz` (and so does its store).
struct HealthRoutes: Sendable {
    let counter: HitCounter
    let drain: DrainState

    @Sendable func healthy(request: Request, context: BasicRequestContext) -> JSONObject {
        JSONObject(["status": "ok"])
    }

    @Sendable func ready(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        guard !self.drain.isDraining else {
            throw RequestError.storeUnavailable("the service is shutting down")
        }
        do {
            try await self.counter.ping()
        } catch {
            context.logger.debug("not ready", metadata: ["error": "\(error)"])
            throw RequestError.storeUnavailable("the store cannot take hits now: unreachable, or refusing writes")
        }
        return JSONObject(["status": "ready"])
    }
}
