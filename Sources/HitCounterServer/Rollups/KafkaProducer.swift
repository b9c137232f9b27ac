import CRdKafka
import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOPosix

/// A Kafka producer on librdkafka: idempotent, `acks=all`, and `send` returns only once the brokers
/// have acknowledged every message, or throws.
///
/// librdkafka's calls that wait (`rd_kafka_flush`, `rd_kafka_destroy`) run on NIO's blocking thread
/// pool, never on an event loop or the concurrency pool.
final class KafkaProducer: @unchecked Sendable {
    // @unchecked: librdkafka's handles are thread-safe; `Delivery` guards its own counts.
    private let handle: OpaquePointer
    private let topic: OpaquePointer
    private let timeoutMilliseconds: Int32

    /// - Parameter timeout: how long a message may take to be acknowledged before it counts as failed.
    init(brokers: String, topic: String, timeout: Duration = .seconds(3), options: [String: String] = [:]) throws(KafkaError) {
        let milliseconds = Int32(TimeAmount(timeout).nanoseconds / 1_000_000)
        let conf = rd_kafka_conf_new()!
        let settings = [
            "bootstrap.servers": brokers,
            // Retries inside librdkafka never duplicate or reorder a message.
            "enable.idempotence": "true",
            "acks": "all",
            "message.timeout.ms": String(milliseconds),
            "linger.ms": "5",
        ].merging(options) { _, option in option }
        for (name, value) in settings.sorted(by: { $0.key < $1.key }) {
            var error = [CChar](repeating: 0, count: 512)
            guard rd_kafka_conf_set(conf, name, value, &error, error.count) == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                throw KafkaError("\(name): \(Self.text(error))")
            }
        }
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
            guard let message, let opaque = message.pointee._private else { return }
            // Each message holds one reference to its batch's `Delivery`, released here.
            Unmanaged<Delivery>.fromOpaque(opaque).takeRetainedValue().record(message.pointee.err)
        }
        rd_kafka_conf_set_log_cb(conf) { _, level, facility, text in
            // librdkafka's own log lines go through swift-log, as the rest of the service's.
            let facility = facility.map { String(cString: $0) } ?? ""
            let text = text.map { String(cString: $0) } ?? ""
            kafkaLogger.log(level: level <= 3 ? .error : level <= 5 ? .warning : .debug, "librdkafka: \(text)", metadata: ["kafka.facility": "\(facility)"])
        }
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &error, error.count) else {
            throw KafkaError(Self.text(error))
        }
        guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
            rd_kafka_destroy(handle)
            throw KafkaError("cannot use topic \(topic): \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))")
        }
        self.handle = handle
        self.topic = topicHandle
        self.timeoutMilliseconds = milliseconds
    }

    /// Produces every message (keyed, so one key's events stay in one partition, in order) and waits
    /// until each is acknowledged. Throws if any failed: the caller sends them all again later.
    func send(_ messages: [(key: [UInt8], value: [UInt8])]) async throws {
        let delivery = Delivery()
        for message in messages {
            var value = message.value
            var key = message.key
            let opaque = Unmanaged.passRetained(delivery)
            let status = rd_kafka_produce(
                self.topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, &value, value.count, &key, key.count, opaque.toOpaque()
            )
            guard status == 0 else {
                opaque.release()
                throw KafkaError("produce failed: \(String(cString: rd_kafka_err2str(rd_kafka_last_error())))")
            }
            delivery.expect(1)
        }
        // Every message is acknowledged or failed by its timeout: flush a little longer than that.
        let handle = UnsafeSendable(self.handle)
        let flushTimeout = self.timeoutMilliseconds + 1000
        _ = try await NIOThreadPool.singleton.runIfActive { rd_kafka_flush(handle.value, flushTimeout) }
        try delivery.check()
    }

    /// The text librdkafka wrote into an error buffer.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Waits for messages still queued, then frees the handles.
    func shutdown() async {
        let handles = UnsafeSendable((self.handle, self.topic))
        let flushTimeout = self.timeoutMilliseconds
        _ = try? await NIOThreadPool.singleton.runIfActive {
            rd_kafka_flush(handles.value.0, flushTimeout)
            rd_kafka_topic_destroy(handles.value.1)
            rd_kafka_destroy(handles.value.0)
        }
    }

    /// The outcome of one `send`'s messages, counted by the delivery callback.
    private final class Delivery: Sendable {
        private struct Counts {
            var pending = 0
            var firstError: rd_kafka_resp_err_t?
        }

        private let counts = NIOLockedValueBox(Counts())

        func expect(_ count: Int) { self.counts.withLockedValue { $0.pending += count } }

        func record(_ error: rd_kafka_resp_err_t) {
            self.counts.withLockedValue { counts in
                counts.pending -= 1
                if error != RD_KAFKA_RESP_ERR_NO_ERROR, counts.firstError == nil { counts.firstError = error }
            }
        }

        func check() throws(KafkaError) {
            let counts = self.counts.withLockedValue { $0 }
            if let error = counts.firstError { throw KafkaError("delivery failed: \(String(cString: rd_kafka_err2str(error)))") }
            guard counts.pending == 0 else { throw KafkaError("\(counts.pending) messages not acknowledged in time") }
        }
    }
}

struct KafkaError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = "Kafka: \(description)" }
}

/// A value handed to NIO's thread pool: librdkafka's handles may be used from any thread.
private struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

private let kafkaLogger = Logger(label: "hitcounter.kafka")
