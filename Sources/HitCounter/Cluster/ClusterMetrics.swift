import CoreMetrics

/// What the cluster client reports through swift-metrics, beside `RedisMetrics`. The node label is
/// bounded by the cluster's size.
enum ClusterMetrics {
    /// Cluster redirects followed (`moved`, `ask`) and commands sent again after a node refused them
    /// for now (`retry`: `TRYAGAIN`, `CLUSTERDOWN` and the like).
    static func redirects(_ kind: String) -> Counter {
        Counter(label: "hitcounter_redis_cluster_redirects_total", dimensions: [("kind", kind)])
    }
    /// Reads of the cluster's map (`CLUSTER SLOTS`), by outcome.
    static func refreshes(_ outcome: String) -> Counter {
        Counter(label: "hitcounter_redis_cluster_refreshes_total", dimensions: [("outcome", outcome)])
    }
    /// Writes to each node of a cluster (bounded by the cluster's size).
    static func nodeRoundTrips(_ node: ClusterNode) -> Counter {
        Counter(label: "hitcounter_redis_node_round_trips_total", dimensions: [("node", node.description)])
    }
    /// Sends to each node of a cluster that got no reply.
    static func nodeErrors(_ node: ClusterNode) -> Counter {
        Counter(label: "hitcounter_redis_node_errors_total", dimensions: [("node", node.description)])
    }
}
