import Foundation
import HitCounter

/// A real `redis-server` for one test, on a free port (or a unix socket), in a temporary directory.
///
/// Tests never mock Redis: each starts its own server, so they run in parallel and leave nothing behind.
public final class RedisServer: @unchecked Sendable {
    // @unchecked: the process handle is touched only by the test that owns this server, one call at a time.
    /// Chosen free when the server is made, and again if another process took it before the server
    /// bound it (`start`).
    public private(set) var port: Int
    public let directory: URL
    public var extraArguments: [String] { self.arguments(self.port) }
    private let arguments: @Sendable (Int) -> [String]
    private let choosePort: @Sendable () throws -> Int
    private var process: ChildProcess?

    public var url: String { "redis://127.0.0.1:\(self.port)" }
    public var socketPath: String { self.directory.appendingPathComponent("redis.sock").path }
    /// A client's settings for this server. Its replies may wait seconds while the whole suite runs
    /// on two cores: late is not lost, so the timeout is long (10 s, not the service's 1 s) and a test
    /// about timeouts sets its own.
    public var configuration: RedisConfiguration {
        var configuration = try! RedisConfiguration(url: self.url)
        configuration.commandTimeout = .seconds(10)
        return configuration
    }

    public convenience init(arguments: [String] = []) throws {
        try self.init(choosingPortWith: freePort, arguments: { _ in arguments })
    }

    /// A server on `port`, which must be free.
    public convenience init(port: Int, arguments: [String] = []) throws {
        try self.init(choosingPortWith: { port }, arguments: { _ in arguments })
    }

    /// A server on a port `choosePort` picks, with `arguments` for that port. Between finding a port
    /// free and the server binding it, another test's process may take it: then `start` picks again.
    public init(choosingPortWith choosePort: @escaping @Sendable () throws -> Int, arguments: @escaping @Sendable (Int) -> [String]) throws {
        self.port = try choosePort()
        self.choosePort = choosePort
        self.arguments = arguments
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("hitcounter-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    /// Starts the server and waits until it answers PING (for long: the whole suite may be starting
    /// servers on two cores at once).
    public func start() async throws {
        for attempt in 1...5 {
            let process = try ChildProcess(
                executable("redis-server").path,
                [
                    "--port", "\(self.port)", "--bind", "127.0.0.1", "--dir", self.directory.path,
                    "--save", "", "--appendonly", "no", "--unixsocket", self.socketPath, "--unixsocketperm", "700",
                ] + self.extraArguments
            )
            self.process = process
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline, process.isRunning {
                if (try? self.cli(["PING"])) == "PONG" { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            guard !process.isRunning, attempt < 5 else { break }
            // It exited before answering: its port (or, in a cluster, its bus port) was taken meanwhile.
            self.process = nil
            self.port = try self.choosePort()
        }
        throw RedisServerError("redis-server on port \(self.port) did not answer PING within 20 s")
    }

    /// Whether the server was started and not stopped.
    public var isRunning: Bool { self.process != nil }

    /// Stops the server: SIGTERM (a clean shutdown) or SIGKILL (a crash).
    public func stop(kill: Bool = false) async {
        guard let process = self.process else { return }
        self.process = nil
        process.signal(kill ? SIGKILL : SIGTERM)
        await process.wait()
    }

    /// This server's clock, in whole seconds (`TIME`).
    public func second() throws -> Int64 {
        guard let second = try self.cli(["TIME"]).split(whereSeparator: \.isNewline).first.flatMap({ Int64($0) }) else {
            throw RedisServerError("TIME answered no second")
        }
        return second
    }

    /// Runs `redis-cli` against this server and returns its trimmed output.
    @discardableResult
    public func cli(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = try executable("redis-cli")
        process.arguments = ["-p", "\(self.port)"] + self.authArguments + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// How many times this server ran `command` (lowercase, as `INFO commandstats` names it) since it
    /// started or its `CONFIG RESETSTAT`.
    public func calls(of command: String) throws -> Int {
        let prefix = "cmdstat_\(command):calls="
        let stats = try self.cli(["INFO", "commandstats"])
        guard let line = stats.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix(prefix) }) else { return 0 }
        return Int(line.dropFirst(prefix.count).prefix { $0.isNumber }) ?? 0
    }

    /// Makes Redis stop answering every client for `milliseconds` (CLIENT PAUSE ... ALL). The stall is in
    /// effect when this returns, so a test that sends a command next knows it will wait.
    public func stall(milliseconds: Int) throws {
        let reply = try self.cli(["CLIENT", "PAUSE", "\(milliseconds)", "ALL"])
        guard reply == "OK" else { throw RedisServerError("CLIENT PAUSE answered \(reply)") }
    }

    private var authArguments: [String] {
        guard let index = self.extraArguments.firstIndex(of: "--requirepass") else { return [] }
        return ["--no-auth-warning", "-a", self.extraArguments[index + 1]]
    }

    deinit {
        try? FileManager.default.removeItem(at: self.directory)
    }
}

public struct RedisServerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs `body` with a started Redis, and stops it afterwards.
public func withRedisServer<T>(arguments: [String] = [], _ body: (RedisServer) async throws -> T) async throws -> T {
    let server = try RedisServer(arguments: arguments)
    try await server.start()
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

public func executable(_ name: String) throws -> URL {
    for directory in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
        let url = URL(fileURLWithPath: directory).appendingPathComponent(name)
        if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    throw RedisServerError("\(name) is not installed: run scripts/test, which installs it")
}

/// A TCP port nothing listens on right now: bind port 0, read the port the kernel chose, close.
public func freePort() throws -> Int {
    guard let socket = loopbackSocket(port: 0) else { throw RedisServerError("socket() failed") }
    let fd = socket.fd
    var address = socket.address
    defer { close(fd) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw RedisServerError("bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether nothing listens on 127.0.0.1:`port` (it can be bound right now).
func portIsFree(_ port: Int) -> Bool {
    guard var socket = loopbackSocket(port: port) else { return false }
    defer { close(socket.fd) }
    return withUnsafeMutablePointer(to: &socket.address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}
