import Tracing

/// The spans of one Redis round trip: a child under each caller it serves (a flight of hits serves
/// several), described with OpenTelemetry's names for database calls: which Redis, which commands,
/// how many.
struct RedisSpans {
    /// What every span to this client's Redis says about it.
    let server: SpanAttributes

    init(configuration: RedisConfiguration) {
        var server = SpanAttributes()
        server["db.system.name"] = "redis"
        server["db.namespace"] = String(configuration.database)
        switch configuration.address {
        case .tcp(let host, let port):
            server["server.address"] = host
            server["server.port"] = port
        case .unixSocket(let path):
            server["server.address"] = path
        }
        self.server = server
    }

    /// Starts one span named `operation` under each of `parents` (none when there are none).
    func start(_ operation: String, commands: Int, parents: [TraceParent], attributes: SpanAttributes = [:]) -> [any Span] {
        guard !parents.isEmpty else { return [] }
        return parents.map { parent in
            parent.startChild(operation, ofKind: .client) {
                var all = self.server
                all["db.operation.name"] = operation
                if commands > 1 { all["db.operation.batch.size"] = commands }
                all.merge(attributes)
                return all
            }
        }
    }
}
