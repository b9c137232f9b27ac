/// Why a request got no HTTP answer. Every such request is an error of exactly one kind.
enum FailureKind: String, CaseIterable, Sendable, Codable {
    /// No connection could be made for it (refused, unreachable, or the connect timed out).
    case connect
    /// Sent, but no complete answer within `--timeout`; the connection is then closed.
    case timeout
    /// The connection closed or failed before the whole answer arrived.
    case reset
    /// The answer was not HTTP/1.x the tool could read.
    case `protocol`
    /// Issued, but still queued or in flight when the run stopped waiting, `--timeout` after it stopped sending.
    case cancelled
}
