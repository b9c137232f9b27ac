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
        throw RequestError(
            .unauthorized,
            presented == nil ? "this route needs a bearer token" : "the bearer token is not valid for this route",
            headers: [.wwwAuthenticate: #"Bearer realm="hitcounter""#]
        )
    }

    /// Whether the request carries a token that opens `access` by itself (not only through public keys).
    func isAuthorized(_ access: Access, _ request: Request) -> Bool {
        self.allows(access, presented: request.headers[.authorization].flatMap(AccessTokens.bearerToken))
    }
}
