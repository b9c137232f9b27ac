import HitCounter
import Hummingbird

/// `GET /series` and `GET /top`: a counter's window in steps, and the counters with the most hits (see
/// docs/live-view.md).
struct LiveViewRoutes: Sendable {
    let counter: HitCounter
    var tokens = AccessTokens()

    /// `{"key","range","step","now","total","points":[{"start","hits","partial"}]}`; with `unique=true`,
    /// the points count distinct ids.
    @Sendable func series(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        let parameters = try RequestParameters(query: request.uri.query, allowed: ["key", "range", "step", "unique"])
        let key = try parameters.key()
        let range = try parameters.integer("range", in: 1...self.counter.maxRange, default: min(3600, self.counter.maxRange))
        let step = try parameters.integer("step", in: 1...self.counter.maxRange, default: min(60, self.counter.maxRange))
        let unique = try parameters.boolean("unique")
        try self.tokens.authorize(.read, request, keys: [key])
        let series = try await self.counter.series(key: key, range: range, step: step, unique: unique)
        return JSONObject([
            "key": .string(key.description), "range": .integer(range), "step": .integer(step), "unique": .bool(unique), "now": .integer(series.now),
            "total": .integer(series.total),
            "points": .array(series.points.map { .object(["start": .integer($0.start), "hits": .integer($0.hits), "partial": .bool($0.partial)]) }),
        ])
    }

    /// `{"range","limit","now","keys":[{"key","hits"}]}`, most hits first.
    @Sendable func top(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        let parameters = try RequestParameters(query: request.uri.query, allowed: ["range", "limit"])
        let range = try parameters.integer("range", in: 1...self.counter.maxRange, default: min(3600, self.counter.maxRange))
        let limit = try parameters.integer("limit", in: HitCounter.topLimitBounds, default: 10)
        let top = try await self.counter.top(range: range, limit: limit)
        return JSONObject([
            "range": .integer(range), "limit": .integer(limit), "now": .integer(top.now),
            "keys": .array(top.entries.map { .object(["key": .string($0.key.description), "hits": .integer($0.hits)]) }),
        ])
    }
}
