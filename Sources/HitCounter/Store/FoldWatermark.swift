import NIOCore
import Synchronization

/// The fold's watermark as this replica last read it (docs/fold.md): the first minute whose minute and
/// hour units may not hold its hits yet, which is the fold's position in the roll-up.
///
/// Reads plan by it without waiting for it: it is asked again at most once a second, off their path. An
/// old value only makes a read take more minutes from the seconds (which live `--max-range`), never a
/// wrong sum; before the first answer, every minute comes from the seconds. So the store asks for it as it
/// starts, and `ping` (the readiness probe) waits for an answer.
final class FoldWatermark: Sendable {
    /// `Int64.min` until Redis answered.
    private let value = Atomic<Int64>(.min)
    /// This machine's microseconds when it was last asked for.
    private let askedAt = Atomic<Int64>(0)

    /// How often it is asked for, at most.
    static let interval: Int64 = 1_000_000

    /// The watermark as last read; asks Redis again when that was more than a second ago.
    func current(client: RedisClient, keys: KeySchema) -> Int64 {
        let now = RedisClock.localMicroseconds()
        let asked = self.askedAt.load(ordering: .relaxed)
        if now - asked >= Self.interval, self.askedAt.compareExchange(expected: asked, desired: now, ordering: .relaxed).exchanged {
            _ = self.ask(client: client, keys: keys)
        }
        return self.value.load(ordering: .relaxed)
    }

    /// Whether Redis has answered once.
    var isKnown: Bool { self.value.load(ordering: .relaxed) != .min }

    /// Takes `minute` as the watermark until Redis says otherwise: for tests that drive time and fold
    /// the minutes they hit themselves.
    func set(_ minute: Int64) {
        self.value.store(minute, ordering: .relaxed)
    }

    /// Asks Redis for the watermark; the future ends when it answered (no position yet leaves the value
    /// as it was: no minute is folded).
    @discardableResult
    func ask(client: RedisClient, keys: KeySchema) -> EventLoopFuture<Void> {
        let eventLoop = client.eventLoop
        return client.withRouting(on: eventLoop) { routing in
            let position = (routing.isCluster ? keys.inCluster() : keys).rollupCursor(sink: RollupEmitter.fold)
            return client.send([RedisCommand("GET", [RedisArgument(bytes: position)])], routedBy: position, on: eventLoop)
        }.map { replies in
            if let minute = replies.first?.string.flatMap({ Int64($0) }) { self.value.store(minute, ordering: .relaxed) }
        }
    }
}
