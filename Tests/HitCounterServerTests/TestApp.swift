import HitCounter
import Hummingbird
import HummingbirdTesting
import NIOCore

@testable import HitCounterServer

/// The service as `HitCounterServer` builds it (`buildApplication`), for in-process tests: on the
/// memory store without roll-ups unless `configure` says otherwise.
func testApplication(_ configure: (inout ServerSettings) -> Void = { _ in }) throws -> some ApplicationProtocol {
    var settings = ServerSettings()
    settings.store = .memory
    settings.rollups.log = false
    configure(&settings)
    return try buildApplication(settings).application
}

/// The same, on the Redis `configuration` points at.
func testApplication(redis configuration: RedisConfiguration, _ configure: (inout ServerSettings) -> Void = { _ in }) throws -> some ApplicationProtocol {
    try testApplication { settings in
        settings.store = .redis
        settings.redis = configuration
        configure(&settings)
    }
}

/// A response's body as text.
extension TestResponse {
    var text: String { String(buffer: self.body) }
}
