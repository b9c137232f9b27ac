/// What one client may hold of the server, so a slow or hostile one cannot exhaust it.
///
/// Together with the body limit (`RequestParameters.maxBodyBytes`) and the argument bounds of
/// `HitCounter`, these bound every resource a request can take. See docs/reliability.md.
struct HTTPLimits: Sendable {
    /// A connection with no request for this long is closed. This also bounds how long a client may
    /// take to send a request's headers. Above nginx's default upstream keep-alive of 60 s, so a
    /// balancer never sends a request on a connection the server is closing.
    var idleTimeout = Duration.seconds(75)
    /// The longest a client may take to send a request body; after it the answer is a 408.
    var requestTimeout = Duration.seconds(10)
    /// Connections beyond this wait in the kernel's accept queue until one closes.
    var maxConnections = 1000
    /// Open `GET /stream`s at most (each reads Redis once a second); more are answered 503.
    var maxStreams = 100

    /// One header, the request line and all headers together, and the number of headers; more is a 431.
    static let maxHeaderFieldBytes = 8 * 1024
    static let maxHeaderListBytes = 16 * 1024
    static let maxHeaderFieldCount = 100
}
