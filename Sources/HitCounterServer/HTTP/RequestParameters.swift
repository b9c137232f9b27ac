import Foundation
import HitCounter
import Hummingbird
import NIOCore

/// A request's parameters, from its query and, for `POST`, from a JSON object body.
///
/// Each name may come from one place only, and only the route's own names are accepted, so a typo
/// (`cuont=5`) is a 400 rather than a silently ignored parameter.
struct RequestParameters {
    private enum Value {
        case query(String)
        case body(JSONValue)
    }

    private var values: [String: Value] = [:]

    /// The largest body `POST /hit` reads; more is a 413.
    static let maxBodyBytes = 4096

    /// The parameters of a query alone, each checked to be one of `allowed`.
    init(query: String?, allowed: [String]) throws(RequestError) {
        let query = try QueryParameters(query)
        for name in query.names {
            self.values[name] = .query(query[name]!)
        }
        try self.check(allowed)
    }

    /// The members of a JSON object (an element of a batch), each checked to be one of `allowed`.
    init(object: [String: JSONValue], allowed: [String]) throws(RequestError) {
        for (name, value) in object {
            self.values[name] = .body(value)
        }
        try self.check(allowed)
    }

    /// Reads the query and, when `bodyTimeout` is given, a JSON body that must arrive within it.
    init(_ request: Request, allowed: [String], bodyTimeout: Duration? = nil) async throws {
        let query = try QueryParameters(request.uri.query)
        for name in query.names {
            self.values[name] = .query(query[name]!)
        }
        if let bodyTimeout, Self.hasBody(request) {
            let body = try await Self.collectBody(of: request, within: bodyTimeout)
            if body.readableBytes > 0 {
                try self.addBody(body)
            }
        }
        try self.check(allowed)
    }

    private func check(_ allowed: [String]) throws(RequestError) {
        for name in self.values.keys.sorted() where !allowed.contains(name) {
            guard !allowed.isEmpty else { throw RequestError.badParameter(name, "is not a parameter of this route (it takes none)") }
            throw RequestError.badParameter(name, "is not a parameter of this route (it takes \(allowed.joined(separator: ", ")))")
        }
    }

    /// Whether the request says a body follows: most hits carry their parameters in the query and
    /// skip the body's deadline below.
    private static func hasBody(_ request: Request) -> Bool {
        if let length = request.headers[.contentLength] { return length != "0" }
        return request.headers[.transferEncoding] != nil
    }

    /// The body, up to `maxBytes` (more is a 413), sent within `timeout` (or a 408): a client
    /// trickling a body cannot hold a request open for longer.
    static func collectBody(of request: Request, within timeout: Duration, upTo maxBytes: Int = Self.maxBodyBytes) async throws -> ByteBuffer {
        try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                do {
                    return try await request.body.collect(upTo: maxBytes)
                } catch is NIOTooManyBytesError {
                    throw RequestError(.contentTooLarge, "the request body is larger than \(maxBytes) bytes")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let body = try await group.next()! else {
                throw RequestError(.requestTimeout, "the request body did not arrive within \(timeout.formattedSeconds) seconds")
            }
            return body
        }
    }

    private mutating func addBody(_ body: ByteBuffer) throws {
        // Any content type: `curl -d '{"count":2}'` sends form encoding but means JSON.
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(body.readableBytesView)) else {
            throw RequestError(.badRequest, "the request body must be a JSON object, such as {\"key\":\"home\",\"count\":1}")
        }
        if let repeated = JSONDuplicateNames.first(in: body.readableBytesView) {
            throw RequestError.badParameter(repeated, "is given more than once")
        }
        for (name, value) in object.sorted(by: { $0.key < $1.key }) {
            guard self.values[name] == nil else {
                throw RequestError.badParameter(name, "is given both in the query and in the body")
            }
            self.values[name] = .body(value)
        }
    }

    /// An integer parameter within `bounds`, or `defaultValue` when absent.
    func integer(_ name: String, in bounds: ClosedRange<Int>, default defaultValue: Int) throws -> Int {
        let problem = "must be an integer from \(bounds.lowerBound) to \(bounds.upperBound)"
        let parsed: Int?
        switch self.values[name] {
        case nil: return defaultValue
        case .query(let text): parsed = Int(text)
        case .body(.integer(let integer)): parsed = integer
        case .body: parsed = nil
        }
        guard let parsed, bounds.contains(parsed) else { throw RequestError.badParameter(name, problem) }
        return parsed
    }

    /// The counter key, by the library's rule for names sent as text (`ByteName.validateAsText`);
    /// `default` when absent.
    func key() throws -> CounterKey {
        guard let key = try self.text("key", allowInteger: false).map({ CounterKey($0) }) else { return .default }
        try key.validateAsText(as: .key)
        return key
    }

    /// The hit's id: like a key, and a JSON integer is taken as its digits (`{"id":42}`), so `42`, `42.0`,
    /// `4.2e1` and `"42"` are one id; nil when absent.
    func id() throws -> HitID? {
        let id = try self.text("id", allowInteger: true).map({ HitID($0) })
        try id?.validateAsText(as: .id)
        return id
    }

    /// A callback URL, which must be one of `allowed`: a client can never make the service call an
    /// address of its choosing.
    func callback(allowed: Set<String>) throws -> String? {
        guard let url = try self.text("callback", allowInteger: false) else { return nil }
        guard !allowed.isEmpty else { throw RequestError.badParameter("callback", "is not accepted: this service has no callbacks configured") }
        guard allowed.contains(url) else { throw RequestError.badParameter("callback", "must be one of the callback URLs this service is configured with") }
        return url
    }

    /// A text parameter, `defaultValue` when absent.
    func string(_ name: String, default defaultValue: String) throws -> String {
        try self.text(name, allowInteger: false) ?? defaultValue
    }

    /// A text parameter, nil when absent.
    func string(_ name: String) throws -> String? {
        try self.text(name, allowInteger: false)
    }

    /// A boolean parameter: `true` or `false` (or a JSON boolean), `false` when absent.
    func boolean(_ name: String) throws -> Bool {
        switch self.values[name] {
        case nil: return false
        case .query("true"), .body(.bool(true)): return true
        case .query("false"), .body(.bool(false)): return false
        default: throw RequestError.badParameter(name, "must be true or false")
        }
    }

    /// A text parameter (a JSON string, or with `allowInteger` a JSON integer's digits).
    private func text(_ name: String, allowInteger: Bool) throws -> String? {
        switch self.values[name] {
        case nil: return nil
        case .query(let string), .body(.string(let string)): return string
        case .body(.integer(let integer)) where allowInteger: return String(integer)
        case .body where allowInteger:
            throw RequestError.badParameter(name, "must be a string or an integer from \(Int.min) to \(Int.max) (send a larger one as a string)")
        case .body: throw RequestError.badParameter(name, "must be a string")
        }
    }
}
