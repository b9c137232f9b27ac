import Foundation

/// The service's own binary, started as a user would start it.
public final class ServerProcess: @unchecked Sendable {
    // @unchecked: owned by one test, used one call at a time.
    public let port: Int
    public let process: ChildProcess
    public let logFile: String

    /// The binary built beside the test bundle (`swift build --build-tests` builds both), or the one
    /// `HITCOUNTER_SERVER_BINARY` names (a benchmark runs a test against a release build that way;
    /// the load tool is taken from beside it).
    public static var binary: String {
        ProcessInfo.processInfo.environment["HITCOUNTER_SERVER_BINARY"]
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("HitCounterServer").path
    }

    /// Starts `HitCounterServer --port <free port> <arguments>` (with `environment` added, at `niceness`)
    /// and waits until `/healthz` answers.
    public init(_ arguments: [String], environment: [String: String] = [:], niceness: Int = 0) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw RedisServerError("\(Self.binary) is missing: build it with `swift build --build-tests` first")
        }
        self.port = try freePort()
        self.logFile = FileManager.default.temporaryDirectory.appendingPathComponent("hitcounter-\(UUID().uuidString).log").path
        self.process = try ChildProcess(Self.binary, ["--port", "\(self.port)"] + arguments, environment: environment, logFile: self.logFile, niceness: niceness)
        for _ in 0..<500 {
            if try await self.isListening() { return }
            guard self.process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw RedisServerError("HitCounterServer did not start: \(self.log)")
    }

    public var log: String { (try? String(contentsOfFile: self.logFile, encoding: .utf8)) ?? "" }

    /// The log's lines, each parsed as the JSON object the service writes (its default log format).
    public func jsonLog() throws -> [[String: Any]] {
        // Whole lines only: the server may be writing the last one as this reads.
        let log = self.log
        let whole = log.hasSuffix("\n") ? log[...] : log[..<(log.lastIndex(of: "\n").map { log.index(after: $0) } ?? log.startIndex)]
        return try whole.split(whereSeparator: \.isNewline).map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw RedisServerError("not a JSON object: \(line)")
            }
            return object
        }
    }

    /// True when something accepts TCP connections on the port.
    public func isListening() async throws -> Bool {
        guard let fd = connectToLoopback(port: self.port) else { return false }
        close(fd)
        return true
    }

    deinit {
        // A server that died under a test (a crash, an exit nobody asked for) leaves its last words in
        // the test run's output, not only in a log file that is removed here.
        if !self.process.isRunning, !self.process.signaled {
            FileHandle.standardError.write(Data("HitCounterServer on port \(self.port) exited by itself (wait status \(self.process.exitStatusDescription)): \(self.log.suffix(4000))\n".utf8))
        }
        try? FileManager.default.removeItem(atPath: self.logFile)
    }
}
