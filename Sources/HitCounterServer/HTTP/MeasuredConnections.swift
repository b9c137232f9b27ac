import HummingbirdCore
import Logging
import Metrics

/// Hummingbird's connection cap (`MaximumAvailableConnections`), with the number of open connections
/// and the cap as gauges, so an alert can say the cap is near before clients wait in the accept queue.
struct MeasuredConnections: AvailableConnectionsDelegate {
    private var cap: MaximumAvailableConnections
    private var open = 0
    private let gauge = Gauge(label: "hitcounter_http_connections_open")

    init(_ maxConnections: Int, logger: Logger) {
        self.cap = MaximumAvailableConnections(maxConnections, logger: logger)
        Gauge(label: "hitcounter_http_connections_max").record(maxConnections)
        self.gauge.record(0)
    }

    mutating func connectionOpened() {
        self.cap.connectionOpened()
        self.open += 1
        self.gauge.record(self.open)
    }

    mutating func connectionClosed() {
        self.cap.connectionClosed()
        self.open -= 1
        self.gauge.record(self.open)
    }

    func isAcceptingNewConnections() -> Bool { self.cap.isAcceptingNewConnections() }
}
