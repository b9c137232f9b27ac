import Foundation

/// One HTTP/1.x answer read off a raw connection.
public struct RawResponse: Sendable, CustomStringConvertible {
    public let status: Int
    /// Header names lowercased, in order.
    public let headers: [(name: String, value: String)]
    public let body: String

    public func header(_ name: String) -> String? {
        self.headers.first { $0.name == name.lowercased() }?.value
    }

    public var description: String { "\(self.status) \(self.headers) \(self.body)" }
}

/// Sends `request` on a new connection and reads until the server closes it or `timeout` passes.
/// Returns every answer read (a `100 Continue` comes before its final answer), and whether the
/// server closed the connection.
public func rawExchange(port: Int, _ request: String, timeout: Duration = .seconds(5)) async throws -> (responses: [RawResponse], closed: Bool) {
    let connection = try RawConnection(port: port)
    defer { connection.close() }
    try await connection.send(request)
    let received = try await connection.receive(timeout: timeout)
    return (parseResponses(received.text), received.closed)
}

/// Splits what a server sent into its answers, using each one's Content-Length.
public func parseResponses(_ text: String) -> [RawResponse] {
    var responses: [RawResponse] = []
    var rest = Substring(text)
    while let end = rest.range(of: "\r\n\r\n") {
        let lines = rest[..<end.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { break }
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.first { $0.name == "content-length" }.flatMap { Int($0.value) } ?? 0
        let bodyStart = end.upperBound
        let body = rest[bodyStart...].utf8.prefix(length)
        responses.append(RawResponse(status: status, headers: headers, body: String(decoding: body, as: UTF8.self)))
        rest = rest[rest.utf8.index(bodyStart, offsetBy: body.count)...]
    }
    return responses
}
