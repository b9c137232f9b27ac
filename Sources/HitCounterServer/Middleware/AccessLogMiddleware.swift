import Hummingbird
import Logging

/// One line per request at `debug`: method, the route's pattern, status and milliseconds, with
/// Hummingbird's `hb.request.id`. Neither the query nor the path as sent: they hold counter keys,
/// which are the users' data, not ours to log (`Route.recordedPath`).
struct AccessLogMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // At info and above the line is never written: skip the clock.
        guard context.logger.logLevel <= .debug else { return try await next(request, context) }
        let start = ContinuousClock.now
        let status: HTTPResponse.Status
        do {
            let response = try await next(request, context)
            status = response.status
            self.log(request, status: status, since: start, logger: context.logger)
            return response
        } catch let error as any HTTPResponseError {
            self.log(request, status: error.status, since: start, logger: context.logger)
            throw error
        }
    }

    private func log(_ request: Request, status: HTTPResponse.Status, since start: ContinuousClock.Instant, logger: Logger) {
        let elapsed = start.duration(to: .now).components
        let milliseconds = Double(elapsed.seconds) * 1000 + Double(elapsed.attoseconds) / 1e15
        logger.debug(
            "request",
            metadata: [
                "http.method": "\(request.method.rawValue)",
                "http.path": "\(Route.recordedPath(request.uri.path))",
                "http.status": "\(status.code)",
                "duration_ms": "\((milliseconds * 1000).rounded() / 1000)",
            ]
        )
    }
}
