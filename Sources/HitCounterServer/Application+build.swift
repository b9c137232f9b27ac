import HTTPTypes
import HitCounter
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// The store named by the settings.
func makeStore(_ settings: ServerSettings, logger: Logger) -> any HitStore {
    switch settings.store {
    case .redis:
        RedisHitStore(configuration: settings.redis, maxRange: settings.maxRange, dedupPeriod: settings.dedupPeriod, logger: logger)
    case .memory:
        MemoryHitStore(maxRange: settings.maxRange, dedupPeriod: settings.dedupPeriod)
    }
}

/// The service: routes over a counter, with the store closed after the server has drained.
func buildApplication(
    _ settings: ServerSettings,
    store: any HitStore,
    metrics: PrometheusCollectorRegistry?,
    drain: DrainState,
    rollups: RollupService? = nil,
    logger: Logger
) -> some ApplicationProtocol {
    let router = buildRouter(
        counter: HitCounter(store: store),
        requestTimeout: settings.limits.requestTimeout,
        callbackURLs: Set(settings.rollups.callbackURLs),
        serverName: settings.serverName,
        tokens: settings.tokens,
        metrics: metrics,
        drain: drain
    )
    let limits = settings.limits
    return Application(
        router: router,
        server: .conformingHTTP1(configuration: .init(
            additionalChannelHandlers: [MalformedRequestHandler()],
            idleTimeout: TimeAmount(limits.idleTimeout),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: HTTPLimits.maxHeaderFieldBytes,
                maxHeaderListSize: HTTPLimits.maxHeaderListBytes,
                maxHeaderFieldCount: HTTPLimits.maxHeaderFieldCount
            )
        )),
        configuration: .init(
            address: .hostname(settings.hostname, port: settings.port),
            serverName: "HitCounter",
            availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections, logger: logger)
        ),
        // Services stop in reverse order: the HTTP server finishes its requests first, then the roll-ups
        // stop (releasing their lock), then the store closes.
        services: [StoreService(store: store)] + (rollups.map { [$0] } ?? []),
        logger: logger
    )
}

/// The routes, on their own so tests build exactly the service's router. `GET /metrics` exists when
/// a registry is given.
func buildRouter(
    counter: HitCounter,
    requestTimeout: Duration = HTTPLimits().requestTimeout,
    callbackURLs: Set<String> = [],
    serverName: String? = nil,
    tokens: AccessTokens = AccessTokens(),
    metrics: PrometheusCollectorRegistry? = nil,
    drain: DrainState = DrainState()
) -> Router<BasicRequestContext> {
    let router = Router(options: .autoGenerateHeadEndpoints)
    // Outermost first: the instance's name goes on every answer, errors included; metrics see the
    // final status, after errors became answers. Their labels are bounded: the matched route (or
    // NotFound), the method (NIO's parser accepts only the registered methods), the status.
    if let serverName {
        router.add(middleware: ServedByMiddleware(name: serverName))
    }
    if metrics != nil {
        router.add(middleware: RequestMetricsMiddleware())
    }
    router.add(middleware: AccessLogMiddleware())
    let routes = Route.allCases.filter { $0 != .metrics || metrics != nil }
    router.add(middleware: ErrorMiddleware(routes: routes))
    let hitRoutes = HitRoutes(counter: counter, bodyTimeout: requestTimeout, callbackURLs: callbackURLs)
    let healthRoutes = HealthRoutes(counter: counter, drain: drain)
    for route in routes {
        switch route {
        case .hit: router.add(route, tokens: tokens, use: hitRoutes.hit)
        case .hits: router.add(route, tokens: tokens, use: hitRoutes.hits)
        case .healthz: router.add(route, tokens: tokens, use: healthRoutes.healthy)
        case .readyz: router.add(route, tokens: tokens, use: healthRoutes.ready)
        case .metrics: router.add(route, tokens: tokens, use: MetricsRoutes(registry: metrics!).metrics)
        }
    }
    return router
}

/// Closes the store once the services after it (the HTTP server) have stopped.
struct StoreService: Service {
    let store: any HitStore

    func run() async throws {
        // Wait for SIGTERM (or the end of the group); cancellation means the same here.
        try? await gracefulShutdown()
        self.store.shutdown()
    }
}

/// Adds `X-Served-By: <name>` to every response, errors included (it sits outside `ErrorMiddleware`).
struct ServedByMiddleware<Context: RequestContext>: RouterMiddleware {
    let name: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.servedBy] = self.name
        return response
    }
}

extension HTTPField.Name {
    /// Which instance answered: set by `ServedByMiddleware`, read by the load tool.
    static let servedBy = HTTPField.Name("X-Served-By")!
}
