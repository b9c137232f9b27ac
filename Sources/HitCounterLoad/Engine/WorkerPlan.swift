import NIOCore

/// One event loop's share of a run: its connections, and its part of the request budget and rate.
struct WorkerPlan: Sendable {
    var options: LoadOptions
    /// This worker's place among the workers.
    var index: Int
    /// The target (index into `options.targets`) of each of this worker's connections.
    var connectionTargets: [Int]
    /// At most this many requests; nil when only the duration bounds the run.
    var budget: Int?
    /// Open loop: this worker's requests per second.
    var rate: Double?
    var seed: UInt64

    /// Connection `i` goes to event loop `i % threads` and to target `i % targets`; the budget and the
    /// rate are shared in proportion to connections, so the totals are exact.
    static func split(_ options: LoadOptions, seed: UInt64) -> [WorkerPlan] {
        var plans = (0..<options.threads).map { index in
            let seed = seed &+ UInt64(index) &* 0x9E37_79B9
            return WorkerPlan(options: options, index: index, connectionTargets: [], budget: options.requests.map { _ in 0 }, rate: nil, seed: seed)
        }
        for connection in 0..<options.connections {
            let worker = connection % options.threads
            plans[worker].connectionTargets.append(connection % options.targets.count)
            if let requests = options.requests {
                // requests / connections each, and one more for the first requests % connections.
                plans[worker].budget! += requests / options.connections + (connection < requests % options.connections ? 1 : 0)
            }
        }
        if case .openLoop(let rate) = options.schedule {
            for index in plans.indices {
                plans[index].rate = rate * Double(plans[index].connectionTargets.count) / Double(options.connections)
            }
        }
        return plans
    }
}
