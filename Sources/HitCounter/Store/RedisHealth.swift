import Logging
import NIOConcurrencyHelpers
import Synchronization

/// Logs when Redis stops serving and when it serves again, once each: an outage is two log lines
/// (its start with the error, its end with how long it lasted and how many calls failed), not a
/// line per request. Out of memory (`OOM`, hits refused while reads still work) counts as an outage.
final class RedisHealth: Sendable {
    private struct Outage {
        let since: ContinuousClock.Instant
        var failures: Int
    }

    private let logger: Logger
    private let outage = NIOLockedValueBox<Outage?>(nil)
    /// Read first on every call, so the healthy path takes no lock.
    private let failing = Atomic<Bool>(false)

    init(logger: Logger) {
        self.logger = logger
    }

    /// Runs `body`, noting whether Redis served it.
    func observe<Value>(_ body: () async throws -> Value) async throws -> Value {
        do {
            let value = try await body()
            if self.failing.load(ordering: .relaxed) { self.recovered() }
            return value
        } catch let error as RedisError where error.isRetriable {
            self.failed(error)
            throw error
        }
    }

    private func failed(_ error: RedisError) {
        let started = self.outage.withLockedValue { outage -> Bool in
            if outage == nil {
                outage = Outage(since: .now, failures: 1)
                self.failing.store(true, ordering: .relaxed)
                return true
            }
            outage!.failures += 1
            return false
        }
        if started {
            self.logger.warning("Redis is not serving; requests get 503 until it does", metadata: ["redis.error": "\(error)"])
        }
    }

    private func recovered() {
        guard let ended = self.outage.withLockedValue({ outage -> Outage? in
            defer { outage = nil }
            self.failing.store(false, ordering: .relaxed)
            return outage
        }) else { return }
        let elapsed = ended.since.duration(to: .now).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        self.logger.info(
            "Redis is serving again",
            metadata: ["outage_seconds": "\((seconds * 1000).rounded() / 1000)", "failed_calls": "\(ended.failures)"]
        )
    }
}
