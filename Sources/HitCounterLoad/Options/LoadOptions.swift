import NIOCore

/// A run's settings, checked: what `LoadRun` needs and nothing about output.
struct LoadOptions: Sendable {
    /// No run lasts longer, even one bounded only by `--requests`.
    static let maxDuration = TimeAmount.minutes(10)

    enum Schedule: Sendable, Equatable {
        /// Each connection sends its next request as soon as the previous answer arrives.
        case closedLoop
        /// Requests per second in total, at fixed intended times; latency counts from those times.
        case openLoop(rate: Double)
    }

    var targets: [LoadTarget]
    var connections: Int
    var threads: Int
    var schedule: Schedule
    /// Stop sending after this long (`maxDuration` when only `requests` bounds the run).
    var duration: TimeAmount
    /// Stop sending after this many requests in total; nil when only `duration` bounds the run.
    var requests: Int?
    var timeout: TimeAmount
    var mix: RequestMix
    var keys: KeySet
    /// Numbered keys taken in order rather than at random.
    var sequentialKeys = false
    /// A unique id on each `POST /hit`.
    var ids = false
    var ranges: [Int]
    var count: Int

    init(_ arguments: LoadArguments) throws(LoadOptionsError) {
        let urls = arguments.urls.isEmpty ? ["http://127.0.0.1:8080"] : arguments.urls
        self.targets = []
        for url in urls {
            self.targets.append(try LoadTarget(url: url, allowRemote: arguments.allowRemote))
        }

        guard (1...10_000).contains(arguments.connections) else { throw LoadOptionsError("--connections must be from 1 to 10000") }
        self.connections = arguments.connections
        guard (1...64).contains(arguments.threads) else { throw LoadOptionsError("--threads must be from 1 to 64") }
        // A thread without a connection would have nothing to do.
        self.threads = min(arguments.threads, arguments.connections)

        if let rate = arguments.rate {
            guard rate.isFinite, rate > 0, rate <= 10_000_000 else {
                throw LoadOptionsError("--rate must be above 0 and at most 10000000 requests/s")
            }
            self.schedule = .openLoop(rate: rate)
        } else {
            self.schedule = .closedLoop
        }

        guard arguments.duration != nil || arguments.requests != nil else {
            throw LoadOptionsError("give --duration, --requests or both: a run must be bounded")
        }
        self.duration = Self.maxDuration
        if let text = arguments.duration {
            guard let duration = DurationText.parse(text) else { throw LoadOptionsError("--duration \(text): expected such as 10, 10s, 500ms or 2m") }
            guard duration <= Self.maxDuration else { throw LoadOptionsError("--duration \(text): a run lasts at most 10m") }
            self.duration = duration
        }
        if let requests = arguments.requests {
            guard requests >= 1 else { throw LoadOptionsError("--requests must be at least 1") }
            self.requests = requests
        }

        guard let timeout = DurationText.parse(arguments.timeout), timeout <= .seconds(60) else {
            throw LoadOptionsError("--timeout \(arguments.timeout): expected a duration above 0 and up to 60s, such as 5s or 500ms")
        }
        self.timeout = timeout

        self.mix = try RequestMix(parsing: arguments.mix)

        if let keys = arguments.keys {
            guard (1...10_000_000).contains(keys) else { throw LoadOptionsError("--keys must be from 1 to 10000000") }
        }
        if arguments.keys == nil && arguments.keyPrefix == nil {
            self.keys = .single("default")
        } else {
            self.keys = .numbered(prefix: arguments.keyPrefix ?? "k", count: arguments.keys ?? 1)
        }

        // Any integer is sent as given: a range the server refuses is a way to measure its 400s.
        self.ranges = []
        for text in arguments.ranges.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false) }) {
            guard let range = Int(text) else { throw LoadOptionsError("--range \(text): expected an integer number of seconds") }
            self.ranges.append(range)
        }
        if self.ranges.isEmpty { self.ranges = [60] }
        self.count = arguments.count
        self.sequentialKeys = arguments.sequentialKeys
        self.ids = arguments.ids
    }

    /// Options from command-line words, as the tool would read them.
    static func parse(_ arguments: [String]) throws -> LoadOptions {
        try LoadOptions(LoadArguments.parse(arguments))
    }
}
