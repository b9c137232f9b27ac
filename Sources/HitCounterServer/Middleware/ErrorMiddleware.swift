import HTTPTypes
import HitCounter
import Hummingbird
import NIOCore
import NIOHTTP1

/// Turns every error into a JSON answer with the right status, so no client ever sees an empty 500.
///
/// - Store errors: 503 with Retry-After when Redis is down, slow or overloaded.
/// - A known path with the wrong method: 405 with `Allow`, where the router alone would say 404.
/// - Hummingbird's own errors without a body (404, 413): the same JSON shape with a message.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The routes this service answers, for 405s.
    let routes: [Route]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any StoreError {
            throw RequestError.answering(error, logger: context.logger)
        } catch let error as HitCounterError {
            throw RequestError.answering(error, logger: context.logger)
        } catch let error as HTTPError where error.status == .notFound {
            if let route = Route(matching: request.uri.path), self.routes.contains(route) {
                throw RequestError.methodNotAllowed(route, request.method)
            }
            throw RequestError(.notFound, error.body ?? "no route for \(request.method) \(request.uri.path)")
        } catch let error as HTTPParserError {
            // A body that breaks HTTP/1.1 (a bad chunk size, a chunk longer than declared): the
            // client's fault. The connection cannot be read further, so it closes.
            context.logger.debug("malformed request body", metadata: ["error": "\(error)"])
            throw RequestError(.badRequest, "the request body is not valid HTTP/1.1 framing (Transfer-Encoding, chunk sizes or lengths)", headers: [.connection: "close"])
        } catch is NIOTooManyBytesError {
            throw RequestError(.contentTooLarge, "the request body is too large")
        } catch let error as HTTPError where error.body == nil {
            throw RequestError(error.status, error.status.reasonPhrase, headers: error.headers)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            throw RequestError.answering(error, logger: context.logger)
        }
    }
}
