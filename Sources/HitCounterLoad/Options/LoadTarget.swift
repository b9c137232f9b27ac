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
        let scheme = "http://"
        guard url.lowercased().hasPrefix(scheme) else {
            throw LoadOptionsError("--url \(url): only http:// URLs are supported, such as http://127.0.0.1:8080")
        }
        let rest = url.dropFirst(scheme.count)
        guard !rest.contains("?"), !rest.contains("#"), !rest.contains("@") else {
            throw LoadOptionsError("--url \(url): give only http://HOST[:PORT][/PREFIX], without user, query or fragment")
        }
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        let hostText: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw LoadOptionsError("--url \(url): an IPv6 address needs a closing ]") }
            hostText = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw LoadOptionsError("--url \(url): expected :PORT after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            hostText = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            hostText = authority
        }
        guard !hostText.isEmpty else { throw LoadOptionsError("--url \(url): the host is missing") }
        self.host = String(hostText)
        if let portText {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw LoadOptionsError("--url \(url): the port must be a number from 1 to 65535")
            }
            self.port = port
        } else {
            self.port = 80
        }
        self.pathPrefix = String(path.reversed().drop { $0 == "/" }.reversed())
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
