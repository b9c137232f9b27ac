import HTTPTypes
import Hummingbird

/// A request the service refuses, with a status and a message that says what is wrong.
///
/// Rendered like Hummingbird's `HTTPError`: `{"error":{"message":"..."}}`.
struct RequestError: HTTPResponseError {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let message: String

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// 400 naming the parameter: `count must be an integer from 1 to 10000`.
    static func badParameter(_ name: String, _ problem: String) -> RequestError {
        RequestError(.badRequest, "\(name) \(problem)")
    }

    /// 503 with Retry-After: the store is down or overloaded, and the request may succeed later.
    static func storeUnavailable(_ message: String) -> RequestError {
        RequestError(.serviceUnavailable, message, headers: [.retryAfter: "1"])
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        try HTTPError(self.status, headers: self.headers, message: self.message).response(from: request, context: context)
    }
}
