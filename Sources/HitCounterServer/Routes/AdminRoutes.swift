import HitCounter
import Hummingbird

/// Managing counters, behind the admin token (the routes do not exist without one): `GET /keys` lists
/// the counters hit within the max range, a page at a time, and `DELETE /counters/{key}` starts one
/// again from zero. See docs/web-counting.md#managing-counters.
struct AdminRoutes: Sendable {
    let counter: HitCounter

    /// `{"keys":[...],"next":"<cursor>"}`; `next` is null on the last page. `prefix` keeps the counters
    /// whose key starts with it; `limit` (default 100) is about how many a page holds.
    @Sendable func keys(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        let parameters = try RequestParameters(query: request.uri.query, allowed: ["prefix", "cursor", "limit"])
        let prefix = try parameters.string("prefix", default: "")
        do {
            if !prefix.isEmpty { try CounterKey(prefix).validateAsText(as: .key) }
        } catch {
            throw RequestError.badParameter("prefix", "must be the start of a key: at most \(CounterKey.maxBytes) bytes of UTF-8, no control characters")
        }
        let cursor = try parameters.string("cursor")
        // SCAN's cursors are unsigned 64-bit numbers; anything else never came from a page.
        if let cursor, UInt64(cursor) == nil || !cursor.allSatisfy({ $0.isASCII && $0.isNumber }) {
            throw RequestError.badParameter("cursor", "must be the next value of an earlier page")
        }
        let limit = try parameters.integer("limit", in: HitCounter.keysLimitBounds, default: 100)
        let page = try await self.counter.keys(prefix: prefix, cursor: cursor, limit: limit)
        return JSONObject(["keys": .array(page.keys.map { .string($0.description) }), "next": page.next.map { .string($0) } ?? .null])
    }

    /// `{"key","reset":true}`: the counter's hits, unique ids and ids are gone; a hit after this counts
    /// from zero. The key is the rest of the path, percent-encoded as needed (`/counters/blog%2Fpost`).
    @Sendable func reset(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        // It takes nothing but the path: `?anything` is a mistake to say, not to ignore.
        _ = try RequestParameters(query: request.uri.query, allowed: [])
        // As the router reads paths: empty segments do not count (`//counters/a/` is `/counters/a`).
        let segments = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        let encoded = segments.dropFirst().joined(separator: "/").utf8
        guard let bytes = PercentDecoding.decode(encoded), !bytes.isEmpty else {
            throw RequestError.badParameter("key", "must follow /counters/, percent-encoded (/counters/blog%2Fpost)")
        }
        let key = CounterKey(bytes: bytes)
        try key.validateAsText(as: .key)
        try await self.counter.reset(key: key)
        return JSONObject(["key": .string(key.description), "reset": .bool(true)])
    }
}
