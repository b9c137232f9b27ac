import NIOCore
import NIOPosix

/// One load run: the engine behind `hitcounter-load`, callable from tests.
///
/// It starts `--threads` event loops, gives each a `Worker` with its share of the connections, connects
/// them all before the clock starts, runs them, and merges their counts into a `LoadReport`.
struct LoadRun: Sendable {
    let options: LoadOptions

    init(_ options: LoadOptions) {
        self.options = options
    }

    /// Runs to the end and reports; `progress` is called about once a second meanwhile.
    func run(progress: (@Sendable (LoadProgress) -> Void)? = nil) async throws -> LoadReport {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.options.threads)
        let result: Result<LoadReport, any Error>
        do {
            result = .success(try await self.run(on: group, progress: progress))
        } catch {
            result = .failure(error)
        }
        try? await group.shutdownGracefully()
        return try result.get()
    }

    private func run(on group: MultiThreadedEventLoopGroup, progress: (@Sendable (LoadProgress) -> Void)?) async throws -> LoadReport {
        let plans = WorkerPlan.split(self.options, seed: UInt64.random(in: 0...UInt64.max))
        var created: [NIOLoopBound<Worker>] = []
        for (plan, eventLoop) in zip(plans, group.makeIterator()) {
            created.append(try await eventLoop.submit { NIOLoopBound(Worker(plan: plan, eventLoop: eventLoop), eventLoop: eventLoop) }.get())
        }
        let workers = created
        let warmUps = workers.map { worker in worker.eventLoop.flatSubmit { worker.value.warmUp() } }
        for warmUp in warmUps { try await warmUp.get() }
        let runs = workers.map { worker in worker.eventLoop.flatSubmit { worker.value.run() } }
        let stats = try await withThrowingTaskGroup(of: Void.self) { tasks in
            if let progress {
                tasks.addTask { await Self.report(progress, of: workers) }
            }
            var stats: [WorkerStats] = []
            for run in runs { stats.append(try await run.get()) }
            tasks.cancelAll()
            return stats
        }
        return LoadReport(options: self.options, workers: stats)
    }

    /// Calls `progress` about once a second until cancelled.
    private static func report(_ progress: @Sendable (LoadProgress) -> Void, of workers: [NIOLoopBound<Worker>]) async {
        let start = ContinuousClock.now
        var previous = LoadProgress.Counts()
        var previousTime = start
        while true {
            do {
                try await Task.sleep(for: .seconds(1))
            } catch {
                return
            }
            var counts = LoadProgress.Counts()
            for worker in workers {
                guard let part = try? await worker.eventLoop.submit({ worker.value.progress }).get() else { return }
                counts.requests += part.requests
                counts.errors += part.errors
            }
            let now = ContinuousClock.now
            let interval = (now - previousTime) / .seconds(1)
            progress(LoadProgress(
                elapsedSeconds: (now - start) / .seconds(1),
                counts: counts,
                currentRate: interval > 0 ? Double(counts.requests - previous.requests) / interval : 0
            ))
            previous = counts
            previousTime = now
        }
    }
}
