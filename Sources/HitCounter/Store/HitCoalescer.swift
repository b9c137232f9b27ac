import NIOCore
import Synchronization

/// Folds concurrent hits on one counter into one script call.
///
/// While a call for a counter (and explicit second) is in flight, further hits on it wait and are
/// summed; when the call returns, one call carries them all. A hot key then costs Redis one script run
/// per round trip instead of one per hit, and each caller is still answered only once its hits are
/// stored.
final class HitCoalescer: Sendable {
    struct Target: Hashable, Sendable {
        let key: CounterKey
        let second: Int64?
    }

    private struct Waiting {
        var count = 0
        var continuations: [CheckedContinuation<Int64, any Error>] = []
    }

    /// Counters with a call in flight, and the hits waiting for the next one.
    private let inFlight = Mutex<[Target: Waiting]>([:])
    private let send: @Sendable (Target, Int) -> EventLoopFuture<Int64>

    init(send: @escaping @Sendable (Target, Int) -> EventLoopFuture<Int64>) {
        self.send = send
    }

    func hit(_ target: Target, count: Int) async throws -> Int64 {
        try await withCheckedThrowingContinuation { continuation in
            let isFirst = self.inFlight.withLock { inFlight in
                if inFlight[target] != nil {
                    inFlight[target]!.count += count
                    inFlight[target]!.continuations.append(continuation)
                    return false
                }
                inFlight[target] = Waiting()
                return true
            }
            if isFirst {
                self.start(target, count: count, continuations: [continuation])
            }
        }
    }

    private func start(_ target: Target, count: Int, continuations: [CheckedContinuation<Int64, any Error>]) {
        self.send(target, count).whenComplete { result in
            for continuation in continuations {
                continuation.resume(with: result)
            }
            let next = self.inFlight.withLock { inFlight -> Waiting? in
                guard let waiting = inFlight[target], !waiting.continuations.isEmpty else {
                    inFlight[target] = nil
                    return nil
                }
                inFlight[target] = Waiting()
                return waiting
            }
            if let next {
                self.start(target, count: next.count, continuations: next.continuations)
            }
        }
    }
}
