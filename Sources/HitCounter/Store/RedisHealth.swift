import Logging
import NIOCore
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

    /// Notes whether Redis served `call`, and passes it on.
    func observe<Value>(_ call: EventLoopFuture<Value>) -> EventLoopFuture<Value> {
        call.whenComplete { result in
            switch result {
            case .success:
                if self.failing.load(ordering: .relaxed) { self.recovered() }
            case .failure(let error as RedisError) where error.isRetriable:
                self.failed(error)
            case .failure:
                break
            }
        }
        return call
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
