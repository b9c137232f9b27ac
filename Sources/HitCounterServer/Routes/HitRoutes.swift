import HitCounter
import Hummingbird

/// `POST /hit` and `GET /hits`: parse and check the request, then ask the counter.
struct HitRoutes: Sendable {
    let counter: HitCounter
    /// How long a client may take to send a `POST /hit` body.
    var bodyTimeout = HTTPLimits().requestTimeout

    /// Bounds on one `POST /hit`'s count.
    static let countBounds = 1...10_000

    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.post("hit", use: self.hit)
        router.get("hits", use: self.hits)
    }

    /// Answers once the hit is stored: an acknowledged hit is never lost by this service.
    @Sendable func hit(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        let parameters = try await RequestParameters(request, allowed: ["key", "count"], bodyTimeout: self.bodyTimeout)
        let key = try parameters.key()
        let count = try parameters.integer("count", in: Self.countBounds, default: 1)
        try await self.counter.hit(key: key, count: count)
        return JSONObject(["key": .string(key.description), "count": .integer(count)])
    }

    @Sendable func hits(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        let parameters = try await RequestParameters(request, allowed: ["key", "range"])
        let key = try parameters.key()
        let range = try parameters.integer("range", in: 1...self.counter.maxRange, default: 60)
        let hits = try await self.counter.hits(key: key, range: range)
        return JSONObject(["key": .string(key.description), "range": .integer(range), "hits": .integer(hits)])
    }
}
