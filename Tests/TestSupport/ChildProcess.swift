import Foundation

/// A program the tests start and signal: redis-server, or the service's own binary.
///
/// Spawned with `posix_spawn` and an empty signal mask. Foundation's `Process` passes on the mask of
/// the thread that starts it, and the test runner's threads block SIGTERM, so a server started that
/// way ignores a clean shutdown request, which is exactly what these tests need to send.
///
/// The child keeps only its standard streams. Tests run in parallel in one process, so a child that
/// inherited the sockets open at the moment it started (another test's connections, Redis clients)
/// would hold them open after their owner closed them: the peer would see no FIN until that child exited.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `exitStatus` is written only by the owner's wait(), one call at a time.
    public let pid: pid_t
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments` and this process's environment plus `environment`; its
    /// output goes to `logFile` (or nowhere). A `niceness` above 0 starts it through `nice`, so every
    /// thread it makes yields the CPU to the programs a test measures (Linux's niceness is per thread).
    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], logFile: String? = nil, niceness: Int = 0
    ) throws {
        let (executable, arguments) = niceness == 0 ? (executable, arguments) : ("/usr/bin/nice", ["-n", "\(niceness)", executable] + arguments)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var defaultSignals = sigset_t()
        sigfillset(&defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var files = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&files)
        defer { posix_spawn_file_actions_destroy(&files) }
        let output = logFile ?? "/dev/null"
        posix_spawn_file_actions_addopen(&files, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&files, 1, 2)
        posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0)
        guard let addCloseFrom = posixSpawnFileActionsAddCloseFrom, addCloseFrom(&files, 3) == 0 else {
            throw RedisServerError("posix_spawn_file_actions_addclosefrom_np (glibc 2.34 or later) is needed")
        }

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let variables = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid = pid_t()
        let status = posix_spawn(&pid, executable, &files, &attributes, argv, envp)
        guard status == 0 else { throw RedisServerError("cannot start \(executable): \(String(cString: strerror(status)))") }
        self.pid = pid
    }

    public func signal(_ signal: Int32) {
        self.signaled = true
        if self.exitStatus == nil { kill(self.pid, signal) }
    }

    /// The raw wait status, for messages ("running" until it exited).
    public var exitStatusDescription: String { self.isRunning ? "running" : self.exitStatus.map { String($0) } ?? "unknown" }

    /// Whether the test sent it a signal: a process that exited without one exited by itself.
    public private(set) var signaled = false

    /// True until the process has exited (and been reaped).
    public var isRunning: Bool {
        if self.exitStatus != nil { return false }
        var status: Int32 = 0
        if waitpid(self.pid, &status, WNOHANG) == self.pid {
            self.exitStatus = status
            return false
        }
        return true
    }

    /// Waits for the process to exit, up to `timeout`; returns its raw wait status, or nil on timeout.
    @discardableResult
    public func wait(timeout: Duration = .seconds(10)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while self.isRunning {
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return self.exitStatus
    }

    /// The exit code if the process exited normally.
    public var exitCode: Int32? {
        guard let status = self.exitStatus, status & 0x7f == 0 else { return nil }
        return (status >> 8) & 0xff
    }

    deinit {
        if self.isRunning {
            kill(self.pid, SIGKILL)
            var status: Int32 = 0
            waitpid(self.pid, &status, 0)
        }
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np`: `<spawn.h>` declares it only for `_GNU_SOURCE`,
/// which Swift's Glibc module is not built with, so it is looked up by name.
private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
private let posixSpawnFileActionsAddCloseFrom: AddCloseFrom? =
    dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: AddCloseFrom.self) }
