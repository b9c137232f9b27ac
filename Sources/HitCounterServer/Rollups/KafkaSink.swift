import HitCounter

/// Roll-up events to a Kafka topic: one message per event, keyed by the counter key, its value the
/// event's JSON. A minute counts as emitted once the brokers acknowledged all its messages.
struct KafkaSink: RollupSink {
    let producer: KafkaProducer
    let topic: String

    var name: String { "kafka:\(self.topic)" }

    func deliver(_ events: [RollupEvent]) async throws {
        try await self.producer.send(events.map { (key: $0.key.bytes, value: Array($0.json.utf8)) })
    }
}
