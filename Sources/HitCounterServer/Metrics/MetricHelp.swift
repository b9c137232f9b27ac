/// What each metric of `/metrics` counts, and in what unit: its `# HELP` line. One place for every
/// metric's description, whichever module records it (the library, Hummingbird, this server); a test
/// checks that every metric the service emits is described here, and `promtool check metrics` that
/// none lacks a HELP line.
enum MetricHelp {
    static let texts: [String: String] = [
        // HTTP (Hummingbird's names, and this server's RequestMetricsMiddleware)
        "hb_requests_total": "HTTP requests answered, by route (the route's path, or NotFound), method and status code.",
        "hb_request_errors_total": "HTTP requests answered with a 4xx or 5xx status, by route, method, status code and error type.",
        "http_server_request_duration": "Time from a request's head to its answer, in seconds, by route, method and status code.",
        "http_server_active_requests": "HTTP requests being answered right now, by method (GET /stream counts while its stream is open).",
        // The Redis client (HitCounter's RedisMetrics)
        "hitcounter_redis_round_trips_total": "Writes of one or more commands to Redis (a round trip each).",
        "hitcounter_redis_batch_size": "Commands per round trip to Redis: how much group commit shares (a count, not a time).",
        "hitcounter_redis_errors_total": "Redis commands that failed without a reply, by kind (timeout, connectionClosed, backlogFull, ...).",
        "hitcounter_redis_connects_total": "Connection attempts to Redis, by outcome (success or failure).",
        "hitcounter_redis_cluster_redirects_total": "Redis Cluster redirects followed (moved, ask) and commands sent again after TRYAGAIN, CLUSTERDOWN and the like (retry), by kind.",
        "hitcounter_redis_cluster_refreshes_total": "Reads of the Redis Cluster's slot map (CLUSTER SLOTS), by outcome (success or failure).",
        "hitcounter_redis_node_round_trips_total": "Writes to each node of a Redis Cluster, by node (host:port).",
        "hitcounter_redis_node_errors_total": "Sends to each node of a Redis Cluster that got no reply (unreachable, dropped, timed out), by node.",
        // Roll-ups (HitCounter's RollupEmitter)
        "hitcounter_rollup_leader": "1 while this replica holds the roll-up lock and emits the fleet's roll-ups, else 0.",
        "hitcounter_rollup_events_total": "Roll-up events delivered, by sink (log, kafka, callback).",
        "hitcounter_rollup_failures_total": "Failed roll-up deliveries, by sink; the minute stays owed and is retried with backoff.",
        "hitcounter_rollup_lag_seconds": "Seconds since the oldest minute a sink is still owed closed, by sink (0 when up to date; set by the lock holder, 0 elsewhere).",
        // Connections (this server's MaximumAvailableConnections)
        "hitcounter_http_connections_open": "Open HTTP connections.",
        "hitcounter_http_connections_max": "The most open HTTP connections allowed (--max-connections); more wait in the accept queue.",
        // Streams (this server's OpenStreams)
        "hitcounter_streams_open": "Open GET /stream streams; at --max-streams, more are answered 503.",
    ]

    /// The HELP text of `name`; a metric nobody described yet still gets one, so scrapers never see
    /// a bare metric, and the test names it.
    static func text(_ name: String) -> String {
        self.texts[name] ?? "\(name) (not described yet: see Sources/HitCounterServer/Metrics/MetricHelp.swift)."
    }
}
