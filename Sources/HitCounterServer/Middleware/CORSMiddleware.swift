import HTTPTypes
import Hummingbird

/// Cross-origin requests from pages (docs/web-counting.md): answers preflights, adds
/// `Access-Control-Allow-Origin` for the origins the operator allows, and refuses a page on another
/// origin that tries to count without being allowed (a beacon or a form needs no preflight, so the
/// browser alone would not stop it). Writes and reads have their own origin lists; the other routes
/// (the page, health, metrics, admin) allow no other origin. Credentials are never allowed: tokens go
/// in `Authorization`, which a preflight lets through, never in cookies.
struct CORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let web: WebCounting

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        let route = Route(matching: request.uri.path)
        let origins: WebCounting.Origins =
            switch route?.crossOrigin {
            case .count: self.web.countOrigins
            case .read: self.web.readOrigins
            case nil: .none
            }
        let allowed = origins.allows(origin)
        if request.method == .options, let route, request.headers[.accessControlRequestMethod] != nil {
            guard allowed else {
                throw RequestError(.forbidden, "pages on \(origin) may not call \(route.path) (--cors-origins, --cors-read-origins)")
            }
            var headers = Self.allowing(origin, origins)
            headers[.accessControlAllowMethods] = route.methods.map(\.rawValue).joined(separator: ", ")
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
        if route?.crossOrigin == .count, !allowed, !Self.isSameOrigin(origin, host: request.head.authority) {
            throw RequestError(.forbidden, "pages on \(origin) may not count here: the service does not allow that origin (--cors-origins)")
        }
        guard allowed else { return try await next(request, context) }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // Refusals too, so the page can read why.
            response = try error.response(from: request, context: context)
        }
        response.headers.append(contentsOf: Self.allowing(origin, origins))
        return response
    }

    /// `Access-Control-Allow-Origin`: `*` when every origin is allowed, else the origin itself, with
    /// `Vary: Origin` so a cache keeps one answer per origin.
    private static func allowing(_ origin: String, _ origins: WebCounting.Origins) -> HTTPFields {
        origins == .any ? [.accessControlAllowOrigin: "*"] : [.accessControlAllowOrigin: origin, .vary: "Origin"]
    }

    /// A page of this service itself (its own `/` page): the origin's host and port are the request's `Host`.
    private static func isSameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host, let separator = origin.range(of: "://") else { return false }
        return origin[separator.upperBound...] == host
    }
}
