#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// A thread of its own for bulk background work (the roll-ups), as a Swift task executor.
///
/// Swift concurrency runs on NIO's event loops in this service (`HitCounterServer.run`), so a task
/// that computes for a while holds up every connection on its loop. A roll-up of a large minute
/// builds and delivers hundreds of thousands of events: run under `withTaskExecutorPreference` with
/// this executor, it computes here, and the request loops only see its I/O. On Linux the thread
/// also runs at a lower priority (nice 10), so on a busy machine requests and Redis get the CPU
/// first and the roll-up takes what is left.
final class BackgroundExecutor: TaskExecutor {
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let loop: any EventLoop

    /// The thread as an event loop group, for connections whose work belongs on it.
    var eventLoopGroup: any EventLoopGroup { self.group }

    init() {
        self.loop = self.group.next()
        #if os(Linux)
        self.loop.execute {
            // Per thread on Linux: PRIO_PROCESS with a thread id sets that thread's nice value.
            if let gettid = Self.gettid {
                _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(gettid()), 10)
            }
        }
        #endif
    }

    #if os(Linux)
    /// glibc's `gettid` (2.30 and later), which Swift's Glibc module does not declare.
    private static let gettid: (@convention(c) () -> pid_t)? = dlsym(nil, "gettid").map {
        unsafeBitCast($0, to: (@convention(c) () -> pid_t).self)
    }
    #endif

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.loop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }

    func shutdown() async {
        try? await self.group.shutdownGracefully()
    }
}
