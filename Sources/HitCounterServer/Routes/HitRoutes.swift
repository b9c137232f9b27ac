import HitCounter
import Hummingbird

/// `POST /hit` and `GET /hits`: parse and check the request, then ask the counter. The router's
/// handlers and the hot path (`HotRoutesHandler`) share `HitRequest` and `HitsRequest`, so both read
/// a request and write its answer the same way.
struct HitRoutes: Sendable {
    let counter: HitCounter
    /// How long a client may take to send a `POST /hit` body.
    var bodyTimeout = HTTPLimits().requestTimeout
    /// The callback URLs a hit may name.
    var callbackURLs: Set<String> = []
    var tokens = AccessTokens()
    var web = WebCounting()
    /// New public counters anonymous clients may count this minute.
    var quota = PublicCounterQuota(perMinute: WebCounting().publicCountersPerMinute)

    /// Answers once the hit is stored: an acknowledged hit is never lost by this service. With an
    /// `id`, `counted` says whether this call counted or the id had been counted already. The body may
    /// be JSON of any content type, so `navigator.sendBeacon`'s `text/plain` counts too.
    @Sendable func hit(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        let parameters = try await RequestParameters(request, allowed: HitRequest.parameters, bodyTimeout: self.bodyTimeout)
        let hit = try HitRequest(parameters, callbackURLs: self.callbackURLs)
        try self.tokens.authorizeHit(request, key: hit.key, count: hit.count, id: hit.id, callback: hit.callback, quota: self.quota)
        if self.web.doesNotTrack(request, tokens: self.tokens) { return hit.answer(HitReceipt(second: 0, counted: false)) }
        return hit.answer(try await self.counter.hit(key: hit.key, count: hit.count, id: hit.id, callback: hit.callback))
    }

    /// `POST /hit/batch`: a JSON array of hits, each as `POST /hit` takes one, checked whole before any
    /// is counted, counted in one round trip; `{"results":[...]}`, one per hit, in order. Behind the
    /// write token, public counters or not (`Route.opensForPublicKeys`).
    @Sendable func batch(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        let batch = try await BatchRequest(request, maxHits: self.web.maxBatch, bodyTimeout: self.bodyTimeout, callbackURLs: self.callbackURLs)
        if self.web.doesNotTrack(request, tokens: self.tokens) { return batch.answer(batch.hits.map { _ in HitReceipt(second: 0, counted: false) }) }
        return batch.answer(try await self.counter.hit(batch.hits.map { Hit(key: $0.key, count: $0.count, id: $0.id, callback: $0.callback) }))
    }

    /// `{"key","range","hits"}`, or with `unique=true`, `{"key","range","unique"}`: the distinct ids
    /// counted in the window.
    @Sendable func hits(request: Request, context: BasicRequestContext) async throws -> JSONObject {
        let read = try HitsRequest(try await RequestParameters(request, allowed: HitsRequest.parameters), maxRange: self.counter.maxRange)
        try self.tokens.authorize(.read, request, keys: [read.key])
        return read.answer(try await self.counter.hits(key: read.key, range: read.range, unique: read.unique))
    }

}

/// A checked `POST /hit`.
struct HitRequest: Sendable {
    static let parameters = ["key", "count", "id", "callback"]

    let key: CounterKey
    let count: Int
    let id: HitID?
    let callback: String?

    init(_ parameters: RequestParameters, callbackURLs: Set<String>) throws {
        self.key = try parameters.key()
        self.count = try parameters.integer("count", in: HitCounter.countBounds, default: 1)
        self.id = try parameters.id()
        self.callback = try parameters.callback(allowed: callbackURLs)
    }

    func answer(_ receipt: HitReceipt) -> JSONObject {
        JSONObject(["key": .string(self.key.description), "count": .integer(self.count), "counted": .bool(receipt.counted)])
    }
}

/// A checked `GET /hits`.
struct HitsRequest: Sendable {
    static let parameters = ["key", "range", "unique"]

    let key: CounterKey
    let range: Int
    let unique: Bool

    init(_ parameters: RequestParameters, maxRange: Int) throws {
        self.key = try parameters.key()
        self.range = try parameters.integer("range", in: 1...maxRange, default: 60)
        self.unique = try parameters.boolean("unique")
    }

    func answer(_ total: Int64) -> JSONObject {
        JSONObject(["key": .string(self.key.description), "range": .integer(self.range), self.unique ? "unique" : "hits": .integer(total)])
    }
}
