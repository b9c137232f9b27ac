import HitCounter
import Logging

/// Roll-up events as log lines (on by default): `message` "rollup" with the event's fields, at info.
/// The event names its counter key: unlike request logs, this line exists to report keys.
struct LogSink: RollupSink {
    let logger: Logger

    var name: String { "log" }

    func deliver(_ events: [RollupEvent]) async throws {
        for event in events {
            self.logger.info(
                "rollup",
                metadata: [
                    "event.key": "\(event.key.description)", "event.minute": "\(event.minute)", "event.hits": "\(event.hits)",
                    "event.unique": "\(event.unique)", "event.emittedBy": "\(event.emittedBy)",
                ]
            )
        }
    }
}
