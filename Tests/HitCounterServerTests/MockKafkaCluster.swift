import CRdKafka
import Foundation
import TestSupport

/// librdkafka's mock Kafka cluster: real brokers listening on local ports, inside the test process.
final class MockKafkaCluster: @unchecked Sendable {
    // @unchecked: librdkafka's handles are thread-safe.
    private let handle: OpaquePointer
    private let cluster: OpaquePointer
    /// `127.0.0.1:port,...`: what producers and consumers connect to.
    let bootstraps: String

    init(brokers: Int32 = 1) throws {
        let conf = rd_kafka_conf_new()!
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &error, error.count) else {
            throw RedisServerError("rd_kafka_new failed")
        }
        guard let cluster = rd_kafka_mock_cluster_new(handle, brokers) else {
            rd_kafka_destroy(handle)
            throw RedisServerError("rd_kafka_mock_cluster_new failed")
        }
        self.handle = handle
        self.cluster = cluster
        self.bootstraps = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    func createTopic(_ topic: String, partitions: Int32 = 3) {
        rd_kafka_mock_topic_create(self.cluster, topic, partitions, 1)
    }

    /// Every message on `topic` as `(key, value)`, read by a real consumer (kcat) from the beginning.
    func consume(_ topic: String) throws -> [(key: String, value: String)] {
        let kcat = Process()
        kcat.executableURL = try executable("kcat")
        kcat.arguments = ["-b", self.bootstraps, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"]
        let output = Pipe()
        kcat.standardOutput = output
        try kcat.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        kcat.waitUntilExit()
        guard kcat.terminationStatus == 0 else { throw RedisServerError("kcat exited \(kcat.terminationStatus)") }
        return String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map { line in
            let parts = line.split(separator: "\t", maxSplits: 1)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }

    deinit {
        rd_kafka_mock_cluster_destroy(self.cluster)
        rd_kafka_destroy(self.handle)
    }
}
