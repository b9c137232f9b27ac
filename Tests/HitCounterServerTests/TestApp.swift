import HitCounter
import Hummingbird
import HummingbirdTesting
import NIOCore

@testable import HitCounterServer

/// The service's own router over `store`, as `buildApplication` makes it, for in-process tests.
func testApplication(store: any HitStore, serverName: String? = nil) -> some ApplicationProtocol {
    Application(router: buildRouter(counter: HitCounter(store: store), serverName: serverName))
}

/// A response's body as text.
extension TestResponse {
    var text: String { String(buffer: self.body) }
}
