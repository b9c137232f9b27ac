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
        let route = Route(matching: request.uri.path)
        let origins = self.web.origins(for: route)
        let always = origins.headersOnEveryAnswer
        guard let origin = request.headers[.origin] else {
            guard !always.isEmpty else { return try await next(request, context) }
            return try await Self.answer(request, context, next, adding: always)
        }
        let allowed = origins.allows(origin)
        if request.method == .options, let route, request.headers[.accessControlRequestMethod] != nil {
            guard allowed else {
                throw RequestError(.forbidden, "pages on \(origin) may not call \(route.path) (--cors-origins, --cors-read-origins)", headers: always)
            }
            var headers = always + Self.allowing(origin, origins)
            headers[.accessControlAllowMethods] = route.methods.map(\.rawValue).joined(separator: ", ")
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
        if route?.crossOrigin == .count, !allowed, !Self.isSameOrigin(origin, host: request.head.authority) {
            throw RequestError(.forbidden, "pages on \(origin) may not count here: the service does not allow that origin (--cors-origins)", headers: always)
        }
        // Refusals too get the headers, so the page can read why.
        return try await Self.answer(request, context, next, adding: always + (allowed ? Self.allowing(origin, origins) : [:]))
    }

    /// The route's answer, a refusal included, with `headers` added.
    private static func answer(
        _ request: Request, _ context: Context, _ next: (Request, Context) async throws -> Response, adding headers: HTTPFields
    ) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers.append(contentsOf: headers)
        return response
    }

    /// `Access-Control-Allow-Origin` for an allowed origin of a list (`*` is on every answer already).
    private static func allowing(_ origin: String, _ origins: WebCounting.Origins) -> HTTPFields {
        origins == .any ? [:] : [.accessControlAllowOrigin: origin]
    }

    /// A page of this service itself (its own `/` page): the origin's host and port are the request's `Host`.
    private static func isSameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host, let separator = origin.range(of: "://") else { return false }
        return origin[separator.upperBound...] == host
    }
}
