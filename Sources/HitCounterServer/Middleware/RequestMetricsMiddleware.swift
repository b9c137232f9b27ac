import Dispatch
import Hummingbird
import Metrics
import NIOConcurrencyHelpers

/// Requests by route, method and status, their durations and the requests in flight, under the names and
/// labels of Hummingbird's `MetricsMiddleware` (`hb_requests`, `http_server_request_duration`,
/// `http_server_active_requests`, `hb_request_errors`).
///
/// Hummingbird's middleware records after the body is written, by wrapping every body in a closure.
/// That takes the response off Hummingbird's fast path, which writes a one-buffer response (all of
/// ours) as a single batch: each response became two socket writes, and `GET /healthz` lost a third
/// of its throughput (docs/performance.md). This one records when the response is ready, and leaves
/// the body alone; for bodies of a few hundred bytes the write it no longer times is negligible.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    private let cache = MetricsCache()

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let inFlight = self.cache.inFlight(request.method)
        inFlight.increment()
        defer { inFlight.decrement() }
        do {
            let response = try await next(request, context)
            let metrics = self.cache.route(context.endpointPath ?? "Unknown", request.method, response.status)
            metrics.requests.increment()
            metrics.duration.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            let metrics = self.cache.route(context.endpointPath ?? "NotFound", request.method, status)
            metrics.requests.increment()
            metrics.duration.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - start)
            metrics.errors?.increment()
            throw error
        }
    }
}

/// The metric objects per route, method and status, made once: the labels are bounded (matched
/// routes, NIO's methods, statuses), and a lookup here is cheaper than the metrics factory's.
private final class MetricsCache: Sendable {
    struct RouteMetrics: Sendable {
        let requests: Counter
        let duration: Metrics.Timer
        /// Only for refusals: a counter made is a row in `/metrics`, and a success is no error.
        let errors: Counter?
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
