import Foundation

/// One `--url`: where requests go, checked against the loopback rule.
///
/// Only `http://HOST[:PORT][/PREFIX]`. Without `--allow-remote` the host must be loopback: an IPv4
/// address in 127.0.0.0/8, `::1` or `localhost`; a name that merely resolves to loopback is refused,
/// since what it resolves to can change.
struct LoadTarget: Sendable, Equatable, CustomStringConvertible {
    /// Host to connect to, without brackets: `127.0.0.1`, `::1`, `localhost`.
    let host: String
    let port: Int
    /// Prepended to every request path, without a trailing slash; usually empty.
    let pathPrefix: String

    init(url: String, allowRemote: Bool) throws(LoadOptionsError) {
        // Foundation's parser: IPv6 brackets, ports and paths as RFC 3986 has them.
        guard let components = URLComponents(string: url), components.scheme?.lowercased() == "http" else {
            throw LoadOptionsError("--url \(url): only http:// URLs are supported, such as http://127.0.0.1:8080")
        }
        guard components.user == nil, components.password == nil, components.query == nil, components.fragment == nil else {
            throw LoadOptionsError("--url \(url): give only http://HOST[:PORT][/PREFIX], without user, query or fragment")
        }
        let host = (components.host ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !host.isEmpty else { throw LoadOptionsError("--url \(url): the host is missing") }
        let port = components.port ?? 80
        guard (1...65535).contains(port) else {
            throw LoadOptionsError("--url \(url): the port must be a number from 1 to 65535")
        }
        self.host = host
        self.port = port
        self.pathPrefix = String(components.path.reversed().drop { $0 == "/" }.reversed())
        guard allowRemote || Self.isLoopback(self.host) else {
            throw LoadOptionsError("--url \(url): \(self.host) is not a loopback address (pass --allow-remote to send load elsewhere)")
        }
    }

    /// 127.0.0.0/8, ::1 (and ::ffff:127.x.x.x) or `localhost`.
    static func isLoopback(_ host: String) -> Bool {
        if host.lowercased() == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes == Array(repeating: 0, count: 15) + [1] { return true }
            return bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] && bytes[12] == 127
        }
        return false
    }

    /// The `Host` header value: `127.0.0.1:8080`, `[::1]:8080`.
    var hostHeader: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "\(host):\(self.port)"
    }

    var description: String { "http://\(self.hostHeader)\(self.pathPrefix)" }
}
