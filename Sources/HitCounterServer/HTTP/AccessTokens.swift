import HTTPTypes
import HitCounter
import Hummingbird

/// The bearer tokens that open writes and reads; nil means that side is open to all.
struct AccessTokens: Sendable {
    var write: [UInt8]?
    var read: [UInt8]?
    /// Opens the admin routes, which do not exist without it.
    var admin: [UInt8]?
    /// Counters whose key starts with one of these may be counted (one hit at a time) and read without
    /// a token: what a public page counts (docs/web-counting.md).
    var publicKeyPrefixes: [String] = []

    /// Whether `presented` opens `access`. The write token opens reads too; only the admin token opens
    /// the admin routes, and none does when it is not set.
    func allows(_ access: Access, presented: [UInt8]?) -> Bool {
        let required: [[UInt8]] = switch access {
        case .write: self.write.map { [$0] } ?? []
        case .read: self.read.map { [$0] + (self.write.map { [$0] } ?? []) } ?? []
        case .admin: self.admin.map { [$0] } ?? []
        }
        guard !required.isEmpty else { return access != .admin }
        guard let presented else { return false }
        // Every candidate is compared, each in constant time, so timing tells nothing about either.
        return required.reduce(false) { found, token in Self.constantTimeEqual(token, presented) || found }
    }

    enum Access: Sendable {
        case read
        case write
        case admin
    }

    /// Whether `presented` opens `access` for requests on `keys`: the token's rule, or for reads and
    /// writes when every key is public (`WebCounting.publicKeyPrefixes`), no token at all.
    func allows(_ access: Access, presented: [UInt8]?, keys: some Collection<CounterKey>) -> Bool {
        if self.allows(access, presented: presented) { return true }
        return access != .admin && !keys.isEmpty && keys.allSatisfy(self.isPublic)
    }

    /// Whether anyone may count and read `key` without a token.
    func isPublic(_ key: CounterKey) -> Bool {
        self.publicPrefix(of: key) != nil
    }

    /// The public prefix `key` starts with, if any.
    func publicPrefix(of key: CounterKey) -> String? {
        self.publicKeyPrefixes.first { key.bytes.starts(with: $0.utf8) }
    }

    /// Whether `headers` carry the write token itself (not only a token that the routes would let by
    /// because none is set).
    func carriesWriteToken(_ headers: HTTPFields) -> Bool {
        guard let write = self.write, let presented = headers[.authorization].flatMap(Self.bearerToken) else { return false }
        return Self.constantTimeEqual(write, presented)
    }

    /// Compares without stopping at the first difference; only the lengths' equality shows in timing.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }

    /// The token of an `Authorization: Bearer <token>` value, or nil for any other scheme. The scheme
    /// is case-insensitive (RFC 9110 11.1); the token is everything after the spaces that follow it.
    /// Whitespace around the whole value never reaches us (the parser drops it, RFC 9110 5.5); inside,
    /// it is part of the token, so `Bearer <token> x` does not match.
    static func bearerToken(_ value: String) -> [UInt8]? {
        let bytes = Array(value.utf8)
        guard let space = bytes.firstIndex(of: UInt8(ascii: " ")),
            String(decoding: bytes[..<space], as: UTF8.self).lowercased() == "bearer"
        else { return nil }
        let token = bytes[space...].drop { $0 == UInt8(ascii: " ") }
        return token.isEmpty ? nil : Array(token)
    }
}
