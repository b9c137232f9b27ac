import Hummingbird
import Tracing

/// Hummingbird's `TracingMiddleware` records the request's path as `url.path`; on
/// `/counters/{key}` the path holds a counter's key, which is the users' data and never recorded
/// (docs/tracing.md). Inside that middleware, this replaces it with the route's pattern.
struct TracedPathRedaction<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Route(matching: request.uri.path) == .counters, let current = ServiceContext.current,
            let span = InstrumentationSystem.tracer.activeSpan(identifiedBy: current)
        {
            span.attributes["url.path"] = "/counters/{key}"
        }
        return try await next(request, context)
    }
}
