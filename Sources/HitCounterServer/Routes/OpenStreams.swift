import Synchronization

/// The open streams, capped.
final class OpenStreams: Sendable {
    let limit: Int
    private let count = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    var current: Int { self.count.load(ordering: .relaxed) }

    /// Takes a place, or false when all are taken.
    func open() -> Bool {
        var current = self.count.load(ordering: .relaxed)
        while current < self.limit {
            let (exchanged, original) = self.count.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    func close() {
        self.count.subtract(1, ordering: .relaxed)
    }
}
