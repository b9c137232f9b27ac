import Foundation

/// A bare TCP connection to 127.0.0.1, for sending what an HTTP client refuses to send: oversized
/// headers, a body that never finishes, nothing at all. Non-blocking: waiting is `Task.sleep`.
public final class RawConnection: @unchecked Sendable {
    // @unchecked: owned by one test, used one call at a time.
    private var fd: Int32

    public init(port: Int) throws {
        guard let fd = connectToLoopback(port: port) else { throw RedisServerError("cannot connect to port \(port): errno \(errno)") }
        self.fd = fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    public func send(_ text: String) async throws {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let sent = bytes.withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent > 0 {
                bytes = bytes.dropFirst(sent)
            } else if errno == EAGAIN {
                try await Task.sleep(for: .milliseconds(2))
            } else {
                throw RedisServerError("send failed: errno \(errno)")
            }
        }
    }

    /// What the server sends until it closes the connection (`closed`), `enough` holds of what came, or
    /// `timeout` passes (so a test that waits for an answer waits as long as a busy machine needs, and
    /// no longer when it is quick).
    public func receive(timeout: Duration, until enough: (String) throws -> Bool = { _ in false }) async throws -> (text: String, closed: Bool) {
        let deadline = ContinuousClock.now + timeout
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        // Asked again only when something came, not at every poll.
        var satisfied = try enough("")
        while !satisfied, ContinuousClock.now < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += buffer[..<count]
                satisfied = try enough(String(decoding: received, as: UTF8.self))
            } else if count == 0 || errno == ECONNRESET {
                return (String(decoding: received, as: UTF8.self), true)
            } else if errno == EAGAIN {
                try await Task.sleep(for: .milliseconds(5))
            } else {
                throw RedisServerError("recv failed: errno \(errno)")
            }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }

    /// Resets the connection (`SO_LINGER` 0, then close: an RST, not a FIN), as a client that crashes
    /// or a middlebox that gives up does.
    public func reset() {
        guard self.fd >= 0 else { return }
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(self.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        self.close()
    }

    /// Closes the sending side only (a FIN), as a client that sent its request and reads on does.
    public func shutdownWrite() {
        if self.fd >= 0 { _ = shutdown(self.fd, Int32(SHUT_WR)) }
    }

    /// Closes the connection, as a client that goes away does.
    public func close() {
        if self.fd >= 0 { Glibc.close(self.fd) }
        self.fd = -1
    }

    deinit {
        self.close()
    }
}

/// A TCP socket no child process inherits (see `ChildProcess`), and the address 127.0.0.1:`port`.
func loopbackSocket(port: Int) -> (fd: Int32, address: sockaddr_in)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    return (fd, address)
}

/// A connected TCP socket to 127.0.0.1:`port`, or nil when nothing accepts there.
func connectToLoopback(port: Int) -> Int32? {
    guard let socket = loopbackSocket(port: port) else { return nil }
    let fd = socket.fd
    var address = socket.address
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else {
        let error = errno
        close(fd)
        errno = error
        return nil
    }
    return fd
}
