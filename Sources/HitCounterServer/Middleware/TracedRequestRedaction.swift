import Hummingbird
import Tracing

/// Hummingbird's `TracingMiddleware` records the path and the query as sent (`url.path`, `url.query`).
/// Both hold the users' data (counter keys, ids, labels) and whatever else a client puts there (a
/// `?token=`, an `?api_key=`), which must not reach a collector. Inside that middleware, this replaces
/// them with what the service knows to be harmless: the route's pattern (`Route.recordedPath`), and
/// the query with every value redacted but small numbers and booleans of the parameters that take
/// them (`TracedQuery`). See docs/tracing.md.
struct TracedRequestRedaction<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let current = ServiceContext.current, let span = InstrumentationSystem.tracer.activeSpan(identifiedBy: current), span.isRecording {
            span.updateAttributes { attributes in
                attributes["url.path"] = Route.recordedPath(request.uri.path)
                attributes["url.query"] = TracedQuery.redacted(request.uri.query)
            }
        }
        return try await next(request, context)
    }
}

/// What a trace may record of a query.
enum TracedQuery {
    /// Parameters whose values are numbers or `true`/`false` and say nothing about anyone.
    static let harmless: Set<Substring> = ["range", "count", "limit", "step", "unique"]
    /// The other parameters routes take, whose names are kept (their values never are). A name not
    /// here is redacted too: a client may send anything as a name.
    static let named: Set<Substring> = ["key", "id", "callback", "label", "prefix", "cursor"]

    /// `query` with each name the service does not take, and each value not known harmless, as
    /// `REDACTED`: `key=REDACTED&range=60&REDACTED=REDACTED`. Nil for no query.
    static func redacted(_ query: String?) -> String? {
        guard let query, !query.isEmpty else { return nil }
        return query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = parts[0], value = parts.count == 2 ? parts[1] : ""
            guard Self.harmless.contains(name) || Self.named.contains(name) else { return "REDACTED=REDACTED" }
            guard Self.harmless.contains(name), Self.isHarmless(value) else { return "\(name)=REDACTED" }
            return "\(name)=\(value)"
        }.joined(separator: "&")
    }

    /// Up to 12 digits, or `true` / `false`.
    private static func isHarmless(_ value: Substring) -> Bool {
        value == "true" || value == "false" || (1...12).contains(value.utf8.count) && value.utf8.allSatisfy { (48...57).contains($0) }
    }
}
