/// Where roll-up events go: Kafka, HTTP callbacks, the log.
///
/// `deliver` returns only once the sink has confirmed every event (Kafka's acknowledgement, a 2xx), or
/// throws; a minute counts as emitted to a sink only after it returns. It should give up within its
/// own timeout, well inside the emitter's lease.
public protocol RollupSink: Sendable {
    /// Stable across restarts and replicas: the sink's cursor in Redis is named after it.
    var name: String { get }
    /// Whether the sink takes this event. All do, except callbacks: only the events whose hits named them.
    func accepts(_ event: RollupEvent) -> Bool
    func deliver(_ events: [RollupEvent]) async throws
}

extension RollupSink {
    public func accepts(_ event: RollupEvent) -> Bool { true }
}
