import Hummingbird

/// Every route of the service, with the methods it answers and who may call it. Registration, the
/// 405 answers and the access checks all read this one table, so a new route is a case here and its
/// handler.
enum Route: String, CaseIterable, Sendable {
    case hit = "/hit"
    case hits = "/hits"
    case series = "/series"
    case top = "/top"
    case stream = "/stream"
    case dashboard = "/"
    case healthz = "/healthz"
    case readyz = "/readyz"
    case metrics = "/metrics"

    var path: String { self.rawValue }

    /// The method its handler answers; a `GET` route answers `HEAD` too (Hummingbird's
    /// `autoGenerateHeadEndpoints`: the same answer without its body).
    var method: HTTPRequest.Method {
        switch self {
        case .hit: .post
        case .hits, .series, .top, .stream, .dashboard, .healthz, .readyz, .metrics: .get
        }
    }

    var methods: [HTTPRequest.Method] { self.method == .get ? [.get, .head] : [self.method] }

    /// Who may call it when tokens are configured: probes and scrapers stay open, and so does the
    /// dashboard's page, which holds no data (it asks for the read token and sends it in a header).
    var access: AccessTokens.Access? {
        switch self {
        case .hit: .write
        case .hits, .series, .top, .stream: .read
        case .dashboard, .healthz, .readyz, .metrics: nil
        }
    }

    /// The route a request path names, the way Hummingbird's router matches it: empty segments are
    /// skipped, so `/hit/` and `//hit` name `/hit`.
    init?(matching path: String) {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        guard segments.count <= 1, let route = Route(rawValue: "/" + (segments.first ?? "")) else { return nil }
        self = route
    }
}

extension Router<BasicRequestContext> {
    /// Registers `handler` for `route`, behind the route's access check: access is bound to the route
    /// that matched, never decided from the raw path.
    func add(
        _ route: Route, tokens: AccessTokens, use handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> some ResponseGenerator
    ) {
        let group = self.group(RouterPath(route.path))
        if let access = route.access {
            group.add(middleware: AccessMiddleware(access: access, tokens: tokens))
        }
        group.on("", method: route.method, use: handler)
    }
}
