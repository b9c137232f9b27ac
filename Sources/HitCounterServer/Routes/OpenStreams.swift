import Metrics
import Synchronization

/// The open streams, capped, and counted in `hitcounter_streams_open`.
///
/// A place is a `Lease`, given back when the stream ends or, if its body never ran (the connection
/// was reset before the head went out, a middleware dropped the answer), when the answer holding it
/// is released: however a request ends, its place comes back.
final class OpenStreams: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)
    private let gauge = Gauge(label: "hitcounter_streams_open")

    init(limit: Int) {
        self.limit = limit
        self.gauge.record(0)
    }

    var current: Int { self.count.load(ordering: .relaxed) }

    /// Takes a place, or nil when all are taken.
    func open() -> Lease? {
        var current = self.count.load(ordering: .relaxed)
        while current < self.limit {
            let (exchanged, original) = self.count.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged {
                self.gauge.record(current + 1)
                return Lease(self)
            }
            current = original
        }
        return nil
    }

    private func close() {
        self.gauge.record(self.count.subtract(1, ordering: .relaxed).newValue)
    }

    /// One open stream's place: given back once, by `release()` or when the last reference goes.
    final class Lease: Sendable {
        private let streams: OpenStreams
        private let released = Atomic<Bool>(false)

        fileprivate init(_ streams: OpenStreams) {
            self.streams = streams
        }

        func release() {
            if !self.released.exchange(true, ordering: .relaxed) { self.streams.close() }
        }

        deinit {
            self.release()
        }
    }
}
