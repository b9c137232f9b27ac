import Foundation
import HitCounter
import Logging
import Synchronization

/// How many distinct counters under each public prefix anonymous clients may count per minute, on
/// this replica (`--public-counters-per-minute`). A counter already counted this minute always counts
/// again; a new one past the quota is a 429 until the next minute. Without it, one anonymous client can
/// make a new counter per request (a few KB of Redis each, for up to a day) until Redis is full and
/// every hit fails (docs/web-counting.md says what that costs and what to put in front).
///
/// Per replica, not per fleet: a fleet of N replicas admits up to N times the quota, and no Redis call is
/// spent on it.
final class PublicCounterQuota: Sendable {
    let perMinute: Int
    private let state: Mutex<State>
    private let logger: Logger

    private struct State {
        var minute: Int64 = 0
        /// Per prefix, the counters admitted this minute.
        var admitted: [String: Set<CounterKey>] = [:]
        /// The prefixes that reached the quota this minute (logged once each).
        var full: Set<String> = []
    }

    init(perMinute: Int, logger: Logger = Logger(label: "hitcounter")) {
        self.perMinute = perMinute
        self.state = Mutex(State())
        self.logger = logger
    }

    /// Admits an anonymous hit on `key` under `prefix` at `second` (epoch seconds), or throws the 429.
    func admit(_ key: CounterKey, prefix: String, at second: Int64 = Int64(Date().timeIntervalSince1970)) throws(RequestError) {
        let minute = second - second % 60
        let (admitted, firstRefusal) = self.state.withLock { state -> (Bool, Bool) in
            if state.minute != minute { state = State(minute: minute) }
            if state.admitted[prefix, default: []].contains(key) { return (true, false) }
            guard state.admitted[prefix, default: []].count < self.perMinute else { return (false, state.full.insert(prefix).inserted) }
            state.admitted[prefix, default: []].insert(key)
            return (true, false)
        }
        if admitted { return }
        if firstRefusal {
            self.logger.notice(
                "anonymous clients reached the quota of new public counters for this minute; more get 429 until the next",
                metadata: ["public_prefix": "\(prefix)", "quota": "\(self.perMinute)"]
            )
        }
        throw RequestError(
            .tooManyRequests,
            "too many distinct public counters under \(JSONString.quoted(prefix)) this minute (at most \(self.perMinute) without a token); try again later",
            headers: [.retryAfter: String(60 - second % 60)]
        )
    }
}
