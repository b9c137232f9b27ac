import CoreMetrics
import Prometheus

/// swift-metrics to Prometheus, as swift-prometheus's `PrometheusMetricsFactory` does it, with each
/// metric's `# HELP` line from `MetricHelp` (that factory always registers an empty one, and the
/// registry refuses the same name with two different helps, so it cannot be wrapped).
struct DescribedMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    /// Value histogram buckets by metric name; the factory's defaults elsewhere.
    var valueHistogramBuckets: [String: [Double]] = [:]
    /// For its default buckets and its unregistering, on the same registry.
    private let defaults: PrometheusMetricsFactory

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        self.defaults = PrometheusMetricsFactory(registry: registry)
    }

    /// Hummingbird names its metrics with dots (hb.requests); Prometheus names take [a-zA-Z0-9_:].
    static func sanitized(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") ? $0 : "_" })
    }

    /// A counter's name ends in `_total`, as Prometheus (and `promtool check metrics`) expects:
    /// Hummingbird's `hb.requests` is exposed as `hb_requests_total`.
    static func counterName(_ label: String) -> String {
        let name = Self.sanitized(label)
        return name.hasSuffix("_total") ? name : name + "_total"
    }

    private func described(_ label: String, _ dimensions: [(String, String)], counter: Bool = false) -> (MetricNameDescriptor, [(String, String)]) {
        let name = counter ? Self.counterName(label) : Self.sanitized(label)
        return (MetricNameDescriptor(metricName: name, unitName: "", helpText: MetricHelp.text(name)), dimensions.map { (Self.sanitized($0.0), $0.1) })
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let (descriptor, labels) = self.described(label, dimensions, counter: true)
        return self.registry.makeCounter(descriptor: descriptor, labels: labels)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        let (descriptor, labels) = self.described(label, dimensions, counter: true)
        return self.registry.makeCounter(descriptor: descriptor, labels: labels)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        let (descriptor, labels) = self.described(label, dimensions)
        guard aggregate else { return self.registry.makeGauge(descriptor: descriptor, labels: labels) }
        let buckets = self.valueHistogramBuckets[descriptor.name] ?? self.defaults.defaultValueHistogramBuckets
        return self.registry.makeValueHistogram(descriptor: descriptor, labels: labels, buckets: buckets)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        let (descriptor, labels) = self.described(label, dimensions)
        return self.registry.makeGauge(descriptor: descriptor, labels: labels)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        let (descriptor, labels) = self.described(label, dimensions)
        return self.registry.makeDurationHistogram(descriptor: descriptor, labels: labels, buckets: self.defaults.defaultDurationHistogramBuckets)
    }

    func destroyCounter(_ handler: any CounterHandler) { self.defaults.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) { self.defaults.destroyFloatingPointCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { self.defaults.destroyRecorder(handler) }
    func destroyMeter(_ handler: any MeterHandler) { self.defaults.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) { self.defaults.destroyTimer(handler) }
}
