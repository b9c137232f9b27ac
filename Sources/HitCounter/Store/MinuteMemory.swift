import NIOConcurrencyHelpers

/// What this replica has written in the current minute, so that a counter's later hits in it are the
/// count alone (`HitTransaction`, docs/fold.md): the counters it put in the minute's roll-up index
/// (and whose seconds bucket it gave an expiry), and the hash slots whose shared keys of the minute
/// (the index, the top sets) it gave theirs.
///
/// Remembered only once Redis confirmed the writes, so a lost transaction is written again by the next
/// hit. Bounded: past `maxCounters` counters in a minute, the rest are written in full every time (a
/// flood of new keys costs Redis a little more, not this replica memory). A minute older than the one
/// remembered (a test's driven second, a hit planned late) is written in full.
final class MinuteMemory: Sendable {
    private struct State {
        var minute: Int64 = .min
        var counters: Set<CounterKey> = []
        var slots: Set<Int> = []
    }

    private let state = NIOLockedValueBox(State())

    /// Counters remembered in a minute, at most.
    static let maxCounters = 100_000

    /// For each of `counters`, whether it is not known as written in `minute`; and whether `slot`'s
    /// shared keys are not.
    func unwritten(_ counters: [CounterKey], slot: Int, minute: Int64) -> (counters: [Bool], shared: Bool) {
        self.state.withLockedValue { state in
            guard state.minute == minute else { return (counters.map { _ in true }, true) }
            return (counters.map { !state.counters.contains($0) }, !state.slots.contains(slot))
        }
    }

    /// Remembers `counters` and `slot`'s shared keys as written in `minute`; a newer minute replaces the
    /// one remembered.
    func wrote(_ counters: [CounterKey], slot: Int, shared: Bool, minute: Int64) {
        self.state.withLockedValue { state in
            if minute > state.minute { state = State(minute: minute) }
            guard minute == state.minute else { return }
            if shared { state.slots.insert(slot) }
            for counter in counters where state.counters.count < Self.maxCounters { state.counters.insert(counter) }
        }
    }
}
