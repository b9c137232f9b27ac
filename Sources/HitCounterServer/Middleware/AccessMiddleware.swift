import HitCounter
import Hummingbird

/// Checks `Authorization: Bearer <token>` for one route's access, on that route only (see
/// `Router.add(_:tokens:use:)`).
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let access: AccessTokens.Access
    let tokens: AccessTokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try self.tokens.authorize(self.access, request, keys: [])
        return try await next(request, context)
    }
}

extension AccessTokens {
    /// Throws the 401 for a request whose token does not open `access` on `keys` (public keys need none).
    func authorize(_ access: Access, _ request: Request, keys: some Collection<CounterKey>) throws(RequestError) {
        let presented = request.headers[.authorization].flatMap(AccessTokens.bearerToken)
        guard !self.allows(access, presented: presented, keys: keys) else { return }
        throw Self.unauthorized(presented == nil ? "this route needs a bearer token" : "the bearer token is not valid for this route")
    }

    /// Throws the 401 for a hit the request may not count: a token that opens writes counts any hit;
    /// without one, only a public counter's, one hit at a time, with no id and no callback (an id or a
    /// callback is state kept per hit), and only while the prefix's quota of new counters this minute
    /// lasts (the 429 of `quota`).
    func authorizeHit(_ request: Request, key: CounterKey, count: Int, id: HitID?, callback: String?, quota: PublicCounterQuota) throws(RequestError) {
        if self.isAuthorized(.write, request) { return }
        try self.authorize(.write, request, keys: [key])
        guard count == 1, id == nil, callback == nil else {
            throw Self.unauthorized("without a token, a public counter takes one hit at a time (count 1), with no id and no callback")
        }
        if let prefix = self.publicPrefix(of: key) { try quota.admit(key, prefix: prefix) }
    }

    private static func unauthorized(_ message: String) -> RequestError {
        RequestError(.unauthorized, message, headers: [.wwwAuthenticate: #"Bearer realm="hitcounter""#])
    }

    /// Whether the request carries a token that opens `access` by itself (not only through public keys).
    func isAuthorized(_ access: Access, _ request: Request) -> Bool {
        self.allows(access, presented: request.headers[.authorization].flatMap(AccessTokens.bearerToken))
    }
}
