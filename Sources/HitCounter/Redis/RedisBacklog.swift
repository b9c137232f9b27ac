import Synchronization

/// How many requests (a command, or the commands sent together in one write) wait for their replies,
/// across all of a client's connections: past the limit, new ones are refused at once (`backlogFull`),
/// so the backlog stays bounded when Redis is slow.
final class RedisBacklog: Sendable {
    let limit: Int
    private let waiting = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes room for `count` requests; false (and nothing taken) when there is not enough.
    func acquire(_ count: Int) -> Bool {
        let now = self.waiting.wrappingAdd(count, ordering: .relaxed).newValue
        guard now <= self.limit else {
            self.waiting.wrappingSubtract(count, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Gives back the room of `count` requests that were answered or failed.
    func release(_ count: Int) {
        self.waiting.wrappingSubtract(count, ordering: .relaxed)
    }
}
