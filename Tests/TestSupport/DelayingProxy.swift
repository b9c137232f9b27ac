import Foundation

/// A TCP proxy on 127.0.0.1 in front of a server, that holds each chunk a client sends for the next
/// delay of a schedule (shared by all its connections, in the order chunks arrive) before passing it
/// on; replies pass at once. For a client whose calls reach the server late by turns, as on a loaded
/// machine. Its threads block on their sockets: they are its own, never the cooperative pool's.
public final class DelayingProxy: @unchecked Sendable {
    // @unchecked: the schedule's position is behind `lock`; the rest is set once.
    public let port: Int
    private let target: Int
    private let delays: [Duration]
    private let lock = NSLock()
    private var next = 0
    private let listener: Int32

    /// Listens on a port the kernel picks (never one found free and bound later, which another
    /// test's server can take meanwhile) and forwards to `port` on 127.0.0.1.
    public init(to port: Int, delays: [Duration]) throws {
        self.target = port
        self.delays = delays
        guard let socket = loopbackSocket(port: 0) else { throw RedisServerError("no socket") }
        var address = socket.address
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket.fd, $0, length) == 0 && getsockname(socket.fd, $0, &length) == 0
            }
        }
        guard bound, listen(socket.fd, 16) == 0 else {
            close(socket.fd)
            throw RedisServerError("the delaying proxy cannot listen")
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = socket.fd
        Thread.detachNewThread { self.accept() }
    }

    private func accept() {
        while true {
            let client = Glibc.accept(self.listener, nil, nil)
            guard client >= 0 else { return }
            guard let server = connectToLoopback(port: self.target) else {
                close(client)
                continue
            }
            Thread.detachNewThread { self.pump(from: client, to: server, delayed: true) }
            Thread.detachNewThread { self.pump(from: server, to: client, delayed: false) }
        }
    }

    private func nextDelay() -> Duration {
        self.lock.lock()
        defer { self.lock.unlock() }
        let delay = self.delays[self.next % self.delays.count]
        self.next += 1
        return delay
    }

    private func pump(from source: Int32, to sink: Int32, delayed: Bool) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            if delayed {
                let delay = self.nextDelay().components
                usleep(UInt32(delay.seconds * 1_000_000 + delay.attoseconds / 1_000_000_000_000))
            }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes { send(sink, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                guard written > 0 else { break }
                sent += written
            }
        }
        shutdown(sink, Int32(SHUT_WR))
        shutdown(source, Int32(SHUT_RD))
    }

    deinit {
        shutdown(self.listener, Int32(SHUT_RDWR))
        close(self.listener)
    }
}
