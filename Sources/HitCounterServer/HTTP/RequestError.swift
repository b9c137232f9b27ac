import HTTPTypes
import HitCounter
import Hummingbird
import Logging
import NIOCore

/// A request the service refuses, with a status and a message that says what is wrong:
/// `{"error":{"message":"..."}}`, as every refusal of the service is written (`body(_:)`).
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

    /// 405 with `Allow`: `route` does not take `method`.
    static func methodNotAllowed(_ route: Route, _ method: HTTPRequest.Method) -> RequestError {
        let methods = route.methods.map(\.rawValue).joined(separator: ", ")
        return RequestError(.methodNotAllowed, "\(route.path) does not take \(method); it takes \(methods)", headers: [.allow: methods])
    }

    /// 503 with Retry-After: the store is down or overloaded, and the request may succeed later.
    static func storeUnavailable(_ message: String) -> RequestError {
        RequestError(.serviceUnavailable, message, headers: [.retryAfter: "1"])
    }

    /// What an error of the counter or its store answers: 503 with Retry-After while the store is
    /// unavailable (its message is for logs, not clients), 400 for a refused argument (its message
    /// names the argument: `count must be an integer from 1 to 10000`), 404 for top keys a service does
    /// not keep, 500 for anything else, logged.
    static func answering(_ error: any Error, logger: Logger) -> RequestError {
        switch error {
        case let error as RedisError where error == .clockMoved:
            // Redis answered every attempt, in another second than planned: not an outage, and it should
            // not happen (`RedisClock.read`), so it is said each time.
            logger.warning("a call missed Redis's second on every attempt while Redis answered; answered 503", metadata: ["error": "\(error)"])
            return .storeUnavailable("the store is unavailable or too slow; try again shortly")
        case let error as any StoreError where error.isRetriable:
            logger.debug("store unavailable", metadata: ["error": "\(error)"])
            return .storeUnavailable("the store is unavailable or too slow; try again shortly")
        case let error as HitCounterError:
            return RequestError(.badRequest, error.message)
        case let error as HitCounter.TopKeysOff:
            return RequestError(.notFound, error.description)
        default:
            logger.error("request failed", metadata: ["error": "\(error)"])
            return RequestError(.internalServerError, "internal error")
        }
    }

    /// The JSON of a refusal, ending with a newline like every answer.
    static func body(_ message: String) -> ByteBuffer {
        ByteBuffer(string: #"{"error":{"message":"# + JSONString.quoted(message) + "}}\n")
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: Self.body(self.message)))
    }
}
