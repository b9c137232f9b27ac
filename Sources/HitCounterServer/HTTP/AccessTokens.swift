import Hummingbird

/// The bearer tokens that open writes and reads; nil means that side is open to all.
struct AccessTokens: Sendable {
    var write: [UInt8]?
    var read: [UInt8]?

    /// Whether `presented` opens `access`. The write token opens reads too.
    func allows(_ access: Access, presented: [UInt8]?) -> Bool {
        let required: [[UInt8]] = switch access {
        case .write: self.write.map { [$0] } ?? []
        case .read: self.read.map { [$0] + (self.write.map { [$0] } ?? []) } ?? []
        }
        guard !required.isEmpty else { return true }
        guard let presented else { return false }
        // Every candidate is compared, each in constant time, so timing tells nothing about either.
        return required.reduce(false) { found, token in Self.constantTimeEqual(token, presented) || found }
    }

    enum Access {
        case read
        case write
    }

    /// Compares without stopping at the first difference; only the lengths' equality shows in timing.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

/// Checks `Authorization: Bearer <token>` on `POST /hit` (write) and `GET /hits` (read). Health,
/// readiness and metrics stay open for probes and scrapers.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: AccessTokens

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let access: AccessTokens.Access
        switch request.uri.path {
        case "/hit": access = .write
        case "/hits": access = .read
        default: return try await next(request, context)
        }
        let presented = request.headers[.authorization].flatMap { value -> [UInt8]? in
            guard value.hasPrefix("Bearer ") else { return nil }
            return Array(value.utf8.dropFirst("Bearer ".utf8.count))
        }
        guard self.tokens.allows(access, presented: presented) else {
            throw RequestError(
                .unauthorized,
                presented == nil ? "this route needs a bearer token" : "the bearer token is not valid for this route",
                headers: [.wwwAuthenticate: #"Bearer realm="hitcounter""#]
            )
        }
        return try await next(request, context)
    }
}
