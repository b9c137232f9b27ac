import Dispatch
import Hummingbird
import Metrics
import NIOConcurrencyHelpers

/// The request metric objects per route, method and status, made once: the labels are bounded (matched
/// routes, NIO's methods, statuses), and a lookup here is cheaper than the metrics factory's.
final class RequestMetrics: Sendable {
    struct RouteMetrics: Sendable {
        let requests: Counter
        let duration: Metrics.Timer
        /// Only for refusals: a counter made is a row in `/metrics`, and a success is no error.
        let errors: Counter?

        /// Counts one answer, and its time since `start` (`DispatchTime` uptime nanoseconds).
        func record(since start: UInt64) {
            self.requests.increment()
            self.duration.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - start)
        }
    }

    private struct RouteID: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: HTTPResponse.Status
    }

    private let routes = NIOLockedValueBox<[RouteID: RouteMetrics]>([:])
    private let methods = NIOLockedValueBox<[HTTPRequest.Method: Meter]>([:])

    func inFlight(_ method: HTTPRequest.Method) -> Meter {
        self.methods.withLockedValue { meters in
            if let meter = meters[method] { return meter }
            let meter = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)])
            meters[method] = meter
            return meter
        }
    }

    func route(_ route: String, _ method: HTTPRequest.Method, _ status: HTTPResponse.Status) -> RouteMetrics {
        let id = RouteID(route: route, method: method, status: status)
        return self.routes.withLockedValue { routes in
            if let metrics = routes[id] { return metrics }
            let labels = [("http.route", route), ("http.request.method", method.rawValue)]
            let code = String(status.code)
            let withStatus = labels + [("http.response.status_code", code)]
            let metrics = RouteMetrics(
                requests: Counter(label: "hb.requests", dimensions: withStatus),
                duration: Metrics.Timer(label: "http.server.request.duration", dimensions: withStatus, preferredDisplayUnit: .seconds),
                errors: status.code >= 400 ? Counter(label: "hb.request.errors", dimensions: labels + [("error.type", code)]) : nil
            )
            routes[id] = metrics
            return metrics
        }
    }
}
