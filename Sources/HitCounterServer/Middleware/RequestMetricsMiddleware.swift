import Dispatch
import Hummingbird
import Metrics
import NIOConcurrencyHelpers

/// Requests by route, method and status, their durations and the requests in flight, under the names and
/// labels of Hummingbird's `MetricsMiddleware` (`hb_requests_total`, `http_server_request_duration`,
/// `http_server_active_requests`, `hb_request_errors_total`).
///
/// Hummingbird's middleware records after the body is written, by wrapping every body in a closure.
/// That takes the response off Hummingbird's fast path, which writes a one-buffer response (all of
/// ours) as a single batch: each response became two socket writes, and `GET /healthz` lost a third
/// of its throughput (docs/performance.md). This one records when the response is ready, and leaves
/// the body alone; for bodies of a few hundred bytes the write it no longer times is negligible.
///
/// The hot routes (`HotRoutesHandler`) record into the same `RequestMetrics`.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let cache: RequestMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let inFlight = self.cache.inFlight(request.method)
        inFlight.increment()
        defer { inFlight.decrement() }
        do {
            let response = try await next(request, context)
            let metrics = self.cache.route(context.endpointPath ?? "Unknown", request.method, response.status)
            metrics.record(since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            let metrics = self.cache.route(context.endpointPath ?? "NotFound", request.method, status)
            metrics.record(since: start)
            metrics.errors?.increment()
            throw error
        }
    }
}
