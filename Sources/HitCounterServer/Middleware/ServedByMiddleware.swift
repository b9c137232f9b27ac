import HTTPTypes
import Hummingbird

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
