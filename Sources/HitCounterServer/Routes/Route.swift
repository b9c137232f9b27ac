import Hummingbird

/// Every route of the service, with the methods it answers and who may call it. Registration, the
/// 405 answers and the access checks all read this one table, so a new route is a case here and its
/// handler.
enum Route: String, CaseIterable, Sendable {
    case hit = "/hit"
    case batch = "/hit/batch"
    case hits = "/hits"
    case series = "/series"
    case top = "/top"
    case stream = "/stream"
    case dashboard = "/"
    case healthz = "/healthz"
    case readyz = "/readyz"
    case metrics = "/metrics"
    case countScript = "/count.js"
    case countPixel = "/count.gif"
    case badge = "/badge.svg"
    case keys = "/keys"
    /// `DELETE /counters/{key}`: the key is the rest of the path.
    case counters = "/counters"

    var path: String { self.rawValue }

    /// The path the router registers: the counter's key follows `/counters/`.
    var pattern: String { self == .counters ? "/counters/**" : self.rawValue }

    /// How logs and traces name a request's path: its route's pattern, never the path as sent (which
    /// holds a counter's key on `/counters/{key}`, and whatever a client puts there elsewhere), or
    /// `NotFound` (as the metrics label it) when no route matches.
    static func recordedPath(_ path: String) -> String {
        guard let route = Route(matching: path) else { return "NotFound" }
        return route == .counters ? "/counters/{key}" : route.rawValue
    }

    /// The method its handler answers.
    var method: HTTPRequest.Method {
        switch self {
        case .hit, .batch: .post
        case .counters: .delete
        case .hits, .series, .top, .stream, .dashboard, .healthz, .readyz, .metrics, .countScript, .countPixel, .badge, .keys: .get
        }
    }

    /// What it answers: a `GET` route answers `HEAD` too (Hummingbird's `autoGenerateHeadEndpoints`:
    /// the same answer without its body), but for the stream, whose `GET` answer has no length to tell
    /// and no end (its `HEAD` is a 405).
    var methods: [HTTPRequest.Method] { self.method == .get && self != .stream ? [.get, .head] : [self.method] }

    /// Who may call it when tokens are configured: probes and scrapers stay open, and so does the
    /// dashboard's page, which holds no data (it asks for the read token and sends it in a header).
    var access: AccessTokens.Access? {
        switch self {
        case .hit, .batch, .countPixel: .write
        case .hits, .series, .top, .stream, .badge: .read
        case .keys, .counters: .admin
        case .dashboard, .healthz, .readyz, .metrics, .countScript: nil
        }
    }

    /// Routes on counters a public key opens without a token (`AccessTokens.publicKeyPrefixes`): their
    /// handlers check access once they know the keys. Not batches: without a token, one hit at a time.
    var opensForPublicKeys: Bool {
        switch self {
        case .hit, .countPixel, .hits, .series, .badge: true
        default: false
        }
    }

    /// Which CORS origins may call it from a page (`WebCounting`); nil: no page on another origin may.
    var crossOrigin: CrossOrigin? {
        switch self {
        case .hit, .batch: .count
        case .hits, .series, .top, .stream, .badge: .read
        case .countScript, .countPixel, .dashboard, .healthz, .readyz, .metrics, .keys, .counters: nil
        }
    }

    enum CrossOrigin {
        case count
        case read
    }

    /// The route a request path names, the way Hummingbird's router matches it: empty segments are
    /// skipped, so `/hit/` and `//hit` name `/hit`.
    init?(matching path: String) {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        if segments.count >= 2, segments[0] == "counters" {
            self = .counters
            return
        }
        guard let route = Route(rawValue: "/" + segments.joined(separator: "/")), route != .counters else { return nil }
        self = route
    }
}

extension Router<BasicRequestContext> {
    /// Registers `handler` for `route`, behind the route's access check: access is bound to the route
    /// that matched, never decided from the raw path.
    func add(
        _ route: Route, tokens: AccessTokens, use handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> some ResponseGenerator
    ) {
        let group = self.group(RouterPath(route.pattern))
        // With public keys, a route on counters checks access in its handler, once it has the keys.
        if let access = route.access, !(route.opensForPublicKeys && !tokens.publicKeyPrefixes.isEmpty) {
            group.add(middleware: AccessMiddleware(access: access, tokens: tokens))
        }
        group.on("", method: route.method, use: handler)
    }
}
