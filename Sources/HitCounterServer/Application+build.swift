import HitCounter
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Tracing

/// The whole service, composed here and only here from its settings: the store, the roll-ups, the
/// routes and the HTTP server. `HitCounterServer` runs it; tests build it the same way. With a
/// `tracer` (the one `InstrumentationSystem` was bootstrapped with), requests and their Redis round
/// trips are traced.
func buildApplication(
    _ settings: ServerSettings, metrics: PrometheusCollectorRegistry? = nil, tracer: (any Tracer)? = nil, logger: Logger = Logger(label: "hitcounter")
) throws -> HitCounterService {
    let store: any HitStore
    var rollups: RollupService?
    switch settings.store {
    case .redis:
        let redis = RedisHitStore(
            configuration: settings.redis, maxRange: settings.maxRange, dedupPeriod: settings.dedupPeriod, keepsTopKeys: settings.topKeys, logger: logger
        )
        rollups = try RollupService.make(settings, keys: redis.keys, logger: logger)
        store = redis
    case .memory:
        store = MemoryHitStore(maxRange: settings.maxRange, dedupPeriod: settings.dedupPeriod)
    }
    let drain = DrainState()
    let limits = settings.limits
    let counter = HitCounter(store: store, tracer: tracer)
    let requestMetrics = metrics.map { _ in RequestMetrics() }
    let hotRoutes = HotRoutesHandler.Service(
        counter: counter, callbackURLs: Set(settings.rollups.callbackURLs), tokens: settings.tokens, metrics: requestMetrics,
        servedBy: settings.serverName, tracer: tracer, web: settings.web, logger: logger
    )
    let application = Application(
        router: buildRouter(settings, counter: counter, metrics: metrics, requestMetrics: requestMetrics, drain: drain),
        server: .hitCounterHTTP1(configuration: .init(
            additionalChannelHandlers: [MalformedRequestHandler()],
            idleTimeout: TimeAmount(limits.idleTimeout),
            httpDecoderConfiguration: .init(
                maxHeaderFieldSize: HTTPLimits.maxHeaderFieldBytes,
                maxHeaderListSize: HTTPLimits.maxHeaderListBytes,
                maxHeaderFieldCount: HTTPLimits.maxHeaderFieldCount
            )
        ), hotRoutes: hotRoutes),
        configuration: .init(
            address: .hostname(settings.hostname, port: settings.port),
            serverName: "HitCounter",
            availableConnectionsDelegate: MeasuredConnections(limits.maxConnections, logger: logger)
        ),
        // Services stop in reverse order: the HTTP server finishes its requests first, then the roll-ups
        // stop (releasing their lock), then the store closes.
        services: [StoreService(store: store)] + (rollups.map { [$0] } ?? []),
        logger: logger
    )
    return HitCounterService(application: application, drain: DrainService(state: drain, delay: settings.shutdownDelay, logger: logger), logger: logger)
}

/// The routes of `Route`, each with its handler and its access, behind the service's middleware.
func buildRouter(
    _ settings: ServerSettings, counter: HitCounter, metrics: PrometheusCollectorRegistry? = nil, requestMetrics: RequestMetrics? = nil,
    drain: DrainState = DrainState()
) -> Router<BasicRequestContext> {
    let router = Router(options: .autoGenerateHeadEndpoints)
    // Outermost first: the instance's name goes on every answer, errors included; metrics see the
    // final status, after errors became answers. Their labels are bounded: the matched route (or
    // NotFound), the method (NIO's parser accepts only the registered methods), the status.
    if let serverName = settings.serverName {
        router.add(middleware: ServedByMiddleware(name: serverName))
    }
    if metrics != nil {
        router.add(middleware: RequestMetricsMiddleware(cache: requestMetrics ?? RequestMetrics()))
    }
    // Pages on other origins: preflights answered, refused writes never reach the routes.
    router.add(middleware: CORSMiddleware(web: settings.web))
    if counter.tracer != nil {
        // A span per request, the caller's `traceparent` its parent; inside it, the access log line
        // carries its ids. The path and query as sent are replaced by what is known harmless.
        router.add(middleware: TracingMiddleware())
        router.add(middleware: TracedRequestRedaction())
    }
    router.add(middleware: AccessLogMiddleware())
    // Without an admin token, the admin routes do not exist (404, not 401).
    let routes = Route.allCases.filter { ($0 != .metrics || metrics != nil) && ($0.access != .admin || settings.tokens.admin != nil) }
    router.add(middleware: ErrorMiddleware(routes: routes))
    let quota = PublicCounterQuota(perMinute: settings.web.publicCountersPerMinute)
    let hitRoutes = HitRoutes(
        counter: counter, bodyTimeout: settings.limits.requestTimeout, callbackURLs: Set(settings.rollups.callbackURLs), tokens: settings.tokens,
        web: settings.web, quota: quota
    )
    let healthRoutes = HealthRoutes(counter: counter, drain: drain)
    let liveViewRoutes = LiveViewRoutes(counter: counter, tokens: settings.tokens)
    let webRoutes = WebRoutes(counter: counter, tokens: settings.tokens, web: settings.web, quota: quota)
    let adminRoutes = AdminRoutes(counter: counter)
    let streamRoute = StreamRoute(counter: counter, drain: drain, streams: OpenStreams(limit: settings.limits.maxStreams))
    for route in routes {
        switch route {
        case .hit: router.add(route, tokens: settings.tokens, use: hitRoutes.hit)
        case .batch: router.add(route, tokens: settings.tokens, use: hitRoutes.batch)
        case .countPixel: router.add(route, tokens: settings.tokens, use: webRoutes.countPixel)
        case .countScript: router.add(route, tokens: settings.tokens, use: webRoutes.countScript)
        case .badge: router.add(route, tokens: settings.tokens, use: webRoutes.badge)
        case .keys: router.add(route, tokens: settings.tokens, use: adminRoutes.keys)
        case .counters: router.add(route, tokens: settings.tokens, use: adminRoutes.reset)
        case .hits: router.add(route, tokens: settings.tokens, use: hitRoutes.hits)
        case .series: router.add(route, tokens: settings.tokens, use: liveViewRoutes.series)
        case .top: router.add(route, tokens: settings.tokens, use: liveViewRoutes.top)
        case .stream: router.add(route, tokens: settings.tokens, use: streamRoute.stream)
        case .dashboard: router.add(route, tokens: settings.tokens, use: DashboardPage().page)
        case .healthz: router.add(route, tokens: settings.tokens, use: healthRoutes.healthy)
        case .readyz: router.add(route, tokens: settings.tokens, use: healthRoutes.ready)
        case .metrics: router.add(route, tokens: settings.tokens, use: MetricsRoutes(registry: metrics!).metrics)
        }
    }
    return router
}
