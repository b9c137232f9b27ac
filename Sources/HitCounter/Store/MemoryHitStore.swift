import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hits in this process's memory, with the same window rules as Redis: for trying the service without
/// Redis, and for fast HTTP tests. Not shared between replicas, and gone on restart.
public final class MemoryHitStore: HitStore {
    public let maxRange: Int
    private let counters = Mutex<[CounterKey: SecondBuckets]>([:])
    private let writes = Atomic<Int>(0)

    public init(maxRange: Int = 86_400) {
        precondition(maxRange >= 1, "maxRange must be at least one second")
        self.maxRange = maxRange
    }

    @discardableResult
    public func hit(key: CounterKey, count: Int, at second: Int64?) async throws -> Int64 {
        let wallClock = Self.currentSecond()
        let now = second ?? wallClock
        // Like a Redis TTL: a bucket lives as long as a window of maxRange can still reach it, counted
        // on the wall clock, so driven time in tests keeps its buckets too.
        let expiresAt = wallClock + Int64(self.maxRange) + 1
        let sweep = self.writes.wrappingAdd(1, ordering: .relaxed).newValue % 4096 == 0
        self.counters.withLock { counters in
            counters[key, default: SecondBuckets()].add(Int64(count), at: now, expiresAt: expiresAt)
            counters[key]!.dropExpired(at: wallClock)
            if sweep {
                // Now and then, forget counters nobody has hit within the longest window.
                counters = counters.filter { entry in
                    var buckets = entry.value
                    buckets.dropExpired(at: wallClock)
                    return !buckets.isEmpty
                }
            }
        }
        return now
    }

    public func hits(key: CounterKey, range: Int, at second: Int64?) async throws -> Int64 {
        let now = second ?? Self.currentSecond()
        return self.counters.withLock { counters in
            counters[key]?.sum(from: now - Int64(range) + 1, through: now) ?? 0
        }
    }

    public func ping() async throws {}

    private static func currentSecond() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec)
    }
}

/// One counter's hits per second, ordered by second.
private struct SecondBuckets {
    private struct Bucket {
        let second: Int64
        var count: Int64
        var expiresAt: Int64
    }

    private var buckets = CircularBuffer<Bucket>()

    var isEmpty: Bool { self.buckets.isEmpty }

    mutating func add(_ count: Int64, at second: Int64, expiresAt: Int64) {
        // Hits nearly always land on the newest second; an explicit older second is inserted in order.
        let index = self.buckets.last.map { $0.second < second } ?? true ? self.buckets.endIndex : self.firstIndex(atOrAfter: second)
        if index != self.buckets.endIndex, self.buckets[index].second == second {
            self.buckets[index].count += count
            self.buckets[index].expiresAt = expiresAt
        } else if index == self.buckets.endIndex {
            self.buckets.append(Bucket(second: second, count: count, expiresAt: expiresAt))
        } else {
            self.buckets.insert(Bucket(second: second, count: count, expiresAt: expiresAt), at: index)
        }
    }

    /// Drops the oldest buckets whose time is up.
    mutating func dropExpired(at wallClock: Int64) {
        while let first = self.buckets.first, first.expiresAt <= wallClock {
            self.buckets.removeFirst()
        }
    }

    func sum(from: Int64, through: Int64) -> Int64 {
        var total: Int64 = 0
        var index = self.firstIndex(atOrAfter: from)
        while index != self.buckets.endIndex, self.buckets[index].second <= through {
            total += self.buckets[index].count
            index = self.buckets.index(after: index)
        }
        return total
    }

    private func firstIndex(atOrAfter second: Int64) -> CircularBuffer<Bucket>.Index {
        var low = self.buckets.startIndex
        var count = self.buckets.count
        while count > 0 {
            let half = count / 2
            let middle = self.buckets.index(low, offsetBy: half)
            if self.buckets[middle].second < second {
                low = self.buckets.index(after: middle)
                count -= half + 1
            } else {
                count = half
            }
        }
        return low
    }
}
