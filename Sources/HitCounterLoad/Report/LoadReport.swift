import Foundation
import Histogram
import NIOCore

/// The outcome of a run: what the table shows, and what `--json` writes for the benchmark script.
///
/// Invariant: `requests == successes + errors`, and `errors` is the sum of `errorsByStatus` (answered
/// with a status outside 2xx) and `errorsByKind` (no answer: connect, timeout, reset, protocol, cancelled).
struct LoadReport: Codable, Sendable, Equatable {
    struct Latency: Codable, Sendable, Equatable {
        var p50: Double
        var p90: Double
        var p99: Double
        var p999: Double
        var max: Double
        var mean: Double
    }

    /// Answered requests of one instance: its `X-Served-By` name, or its target URL when it sends none.
    struct Instance: Codable, Sendable, Equatable {
        var instance: String
        var requests: Int
        /// Of all answered requests.
        var sharePercent: Double
        /// Answers outside 2xx.
        var errors: Int

        enum CodingKeys: String, CodingKey {
            case instance, requests, errors
            case sharePercent = "share_percent"
        }
    }

    struct OperationCounts: Codable, Sendable, Equatable {
        var operation: String
        /// Requests sent as this operation (requests cancelled while still queued had none yet).
        var requests: Int
        var successes: Int
    }

    var requests: Int
    var successes: Int
    var errors: Int
    /// Answers outside 2xx, by status: `["503": 12]`.
    var errorsByStatus: [String: Int]
    /// Requests with no answer, by `FailureKind`; every kind is present.
    var errorsByKind: [String: Int]
    var elapsedSeconds: Double
    /// Answered requests (any status) per second of `elapsedSeconds`.
    var requestsPerSecond: Double
    /// Of answered requests, from their intended send time, in milliseconds.
    var latencyMs: Latency
    /// Most requests first.
    var instances: [Instance]
    var operations: [OperationCounts]
    /// `closed-loop` or `open-loop`.
    var mode: String
    /// The open loop's target rate, requests/s.
    var targetRate: Double?
    var connections: Int
    var threads: Int
    var urls: [String]

    enum CodingKeys: String, CodingKey {
        case requests, successes, errors, instances, operations, mode, connections, threads, urls
        case errorsByStatus = "errors_by_status"
        case errorsByKind = "errors_by_kind"
        case elapsedSeconds = "elapsed_seconds"
        case requestsPerSecond = "requests_per_second"
        case latencyMs = "latency_ms"
        case targetRate = "target_rate"
    }

    /// Answered with any status.
    var answered: Int { self.requests - self.errorsByKind.values.reduce(0, +) }

    init(options: LoadOptions, workers: [WorkerStats]) {
        self.requests = workers.reduce(0) { $0 + $1.requests }
        self.successes = workers.reduce(0) { $0 + $1.successes }
        self.errors = self.requests - self.successes

        var byStatus: [String: Int] = [:]
        var byKind = Dictionary(uniqueKeysWithValues: FailureKind.allCases.map { ($0.rawValue, 0) })
        var servedBy: [String: WorkerStats.Tally] = [:]
        var operations = options.mix.entries.map { OperationCounts(operation: $0.operation.rawValue, requests: 0, successes: 0) }
        var latency = Histogram<UInt64>(highestTrackableValue: WorkerStats.highestLatencyMicroseconds, numberOfSignificantValueDigits: .three)
        for worker in workers {
            for (status, count) in worker.errorsByStatus { byStatus[String(status), default: 0] += count }
            for (kind, count) in worker.errorsByKind { byKind[kind.rawValue, default: 0] += count }
            for (name, tally) in worker.servedBy { servedBy[String(buffer: name), default: .init()].add(tally) }
            for (target, tally) in worker.unnamed { servedBy[options.targets[target].description, default: .init()].add(tally) }
            for (index, tally) in worker.operations.enumerated() {
                operations[index].requests += tally.requests
                operations[index].successes += tally.successes
            }
            latency.add(worker.latency)
        }
        self.errorsByStatus = byStatus
        self.errorsByKind = byKind
        self.operations = operations

        let start = workers.map(\.startNanoseconds).min() ?? 0
        let end = workers.map(\.endNanoseconds).max() ?? 0
        self.elapsedSeconds = Double(end &- start) / 1e9
        let answered = self.requests - byKind.values.reduce(0, +)
        self.requestsPerSecond = self.elapsedSeconds > 0 ? Double(answered) / self.elapsedSeconds : 0
        self.latencyMs = Latency(histogram: latency)
        self.instances = servedBy.map { name, tally in
            let share = answered > 0 ? 100 * Double(tally.requests) / Double(answered) : 0
            return Instance(instance: name, requests: tally.requests, sharePercent: share, errors: tally.errors)
        }.sorted { ($0.requests, $1.instance) > ($1.requests, $0.instance) }

        switch options.schedule {
        case .closedLoop:
            self.mode = "closed-loop"
            self.targetRate = nil
        case .openLoop(let rate):
            self.mode = "open-loop"
            self.targetRate = rate
        }
        self.connections = options.connections
        self.threads = options.threads
        self.urls = options.targets.map(\.description)
    }

    /// The report as `--json` writes it: keys sorted, indented.
    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

extension LoadReport.Latency {
    /// Percentiles of a microsecond histogram, in milliseconds; zeros when nothing was recorded.
    init(histogram: Histogram<UInt64>) {
        guard histogram.totalCount > 0 else {
            self.init(p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0)
            return
        }
        func milliseconds(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1000 }
        self.init(
            p50: milliseconds(50), p90: milliseconds(90), p99: milliseconds(99), p999: milliseconds(99.9),
            max: Double(histogram.max) / 1000, mean: histogram.mean / 1000
        )
    }
}

extension WorkerStats.Tally {
    fileprivate mutating func add(_ other: Self) {
        self.requests += other.requests
        self.errors += other.errors
    }
}
