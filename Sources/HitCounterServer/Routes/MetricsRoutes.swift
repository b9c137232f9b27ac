import Hummingbird
import Metrics
import Prometheus

/// `GET /metrics`: everything recorded through swift-metrics, in the Prometheus text format.
struct MetricsRoutes: Sendable {
    let registry: PrometheusCollectorRegistry

    @Sendable func metrics(request: Request, context: BasicRequestContext) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: self.registry.emitToBuffer()))
        )
    }

    /// Bootstraps swift-metrics with Prometheus, once per process, and returns the registry to expose.
    static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = DescribedMetricsFactory(registry: registry)
        factory.valueHistogramBuckets["hitcounter_redis_batch_size"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
