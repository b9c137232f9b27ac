import HitCounter
import Hummingbird

/// `POST /hit` and `GET /hits`: parse and check the request, then ask the counter.
struct HitRoutes: Sendable {
    let counter: HitCounter
    /// How long a client may take to send a `POST /hit` body.
    var bodyTimeout = HTTPLimits().requestTimeout
    /// The callback URLs a hit may name.
    var callbackURLs: Set<String> = []

    /// Answers once the hit is stored: an acknowledged hit is never lost by this service. With an
    /// `id`, `counted` says whether this call counted or the id had been counted already.
    @Sendable func hit(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        let parameters = try await RequestParameters(request, allowed: ["key", "count", "id", "callback"], bodyTimeout: self.bodyTimeout)
        let key = try parameters.key()
        let count = try parameters.integer("count", in: HitCounter.countBounds, default: 1)
        let id = try parameters.id()
        let callback = try parameters.callback(allowed: self.callbackURLs)
        let receipt = try await self.counter.hit(key: key, count: count, id: id, callback: callback)
        return JSONObject(["key": .string(key.description), "count": .integer(count), "counted": .bool(receipt.counted)])
    }

    /// `{"key","range","hits"}`, or with `unique=true`, `{"key","range","unique"}`: the distinct ids
    /// counted in the window.
    @Sendable func hits(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        let parameters = try await RequestParameters(request, allowed: ["key", "range", "unique"])
        let key = try parameters.key()
        let range = try parameters.integer("range", in: 1...self.counter.maxRange, default: 60)
        let unique = try parameters.boolean("unique")
        let total = try await self.counter.hits(key: key, range: range, unique: unique)
        return JSONObject(["key": .string(key.description), "range": .integer(range), unique ? "unique" : "hits": .integer(total)])
    }
}
