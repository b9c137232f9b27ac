import Hummingbird

/// Checks `Authorization: Bearer <token>` for one route's access, on that route only (see
/// `Router.add(_:tokens:use:)`).
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let access: AccessTokens.Access
    let tokens: AccessTokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let presented = request.headers[.authorization].flatMap(AccessTokens.bearerToken)
        guard self.tokens.allows(self.access, presented: presented) else {
            throw RequestError(
                .unauthorized,
                presented == nil ? "this route needs a bearer token" : "the bearer token is not valid for this route",
                headers: [.wwwAuthenticate: #"Bearer realm="hitcounter""#]
            )
        }
        return try await next(request, context)
    }
}
