import Histogram
import NIOCore

/// What one worker counted: touched only on its event loop, merged into the report at the end.
struct WorkerStats: Sendable {
    struct Tally: Sendable {
        var requests = 0
        var errors = 0
    }

    struct OperationTally: Sendable {
        var requests = 0
        var successes = 0
    }

    /// Longest latency kept exactly: an hour, in microseconds; longer ones are recorded as this.
    static let highestLatencyMicroseconds: UInt64 = 3_600_000_000

    /// Requests finished, in any way.
    var requests = 0
    /// Answered with 2xx.
    var successes = 0
    var errorsByStatus: [Int: Int] = [:]
    var errorsByKind: [FailureKind: Int] = [:]
    /// Latency of every answered request, from its intended send time, in microseconds.
    var latency = Histogram<UInt64>(highestTrackableValue: Self.highestLatencyMicroseconds, numberOfSignificantValueDigits: .three)
    /// Answered requests per `X-Served-By` value.
    var servedBy: [(name: ByteBuffer, tally: Tally)] = []
    /// Answered requests without `X-Served-By`, per target (index into `LoadOptions.targets`).
    var unnamed: [Int: Tally] = [:]
    /// Indexed like `RequestMix.entries`; requests cancelled before a connection took them have no operation.
    var operations: [OperationTally]
    /// `NIODeadline.uptimeNanoseconds` when the worker started sending, and when its last request finished.
    var startNanoseconds: UInt64 = 0
    var endNanoseconds: UInt64 = 0

    init(operations: Int) {
        self.operations = Array(repeating: OperationTally(), count: operations)
    }

    var errors: Int { self.requests - self.successes }

    @inline(__always)
    mutating func recordAnswer(operation: Int, status: Int, servedBy: ByteBuffer?, target: Int, latencyNanoseconds: UInt64) {
        let success = (200..<300).contains(status)
        self.requests += 1
        self.operations[operation].requests += 1
        if success {
            self.successes += 1
            self.operations[operation].successes += 1
        } else {
            self.errorsByStatus[status, default: 0] += 1
        }
        _ = self.latency.record(min(latencyNanoseconds / 1000, Self.highestLatencyMicroseconds))
        if let servedBy {
            let index = self.servedByIndex(servedBy)
            self.servedBy[index].tally.requests += 1
            if !success { self.servedBy[index].tally.errors += 1 }
        } else {
            self.unnamed[target, default: Tally()].requests += 1
            if !success { self.unnamed[target, default: Tally()].errors += 1 }
        }
    }

    mutating func recordFailure(operation: Int?, kind: FailureKind) {
        self.requests += 1
        self.errorsByKind[kind, default: 0] += 1
        if let operation { self.operations[operation].requests += 1 }
    }

    /// Few instances answer one run, so a linear search over their names (a `memcmp` each) beats
    /// making a string per answer to hash.
    @inline(__always)
    private mutating func servedByIndex(_ name: ByteBuffer) -> Int {
        for index in self.servedBy.indices where self.servedBy[index].name == name {
            return index
        }
        // A copy: the slice would keep the whole receive buffer alive.
        var copy = ByteBuffer()
        copy.writeImmutableBuffer(name)
        self.servedBy.append((copy, Tally()))
        return self.servedBy.count - 1
    }
}
