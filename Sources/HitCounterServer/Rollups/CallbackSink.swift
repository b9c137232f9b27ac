import AsyncHTTPClient
import HitCounter
import NIOCore

/// Roll-up events POSTed as JSON to one configured callback URL, for the counters whose hits named
/// it (`callback=<url>`). One request per event, with an `Idempotency-Key` naming the event; any
/// answer but a 2xx is a failure, and the emitter retries the minute with backoff.
struct CallbackSink: RollupSink {
    let url: String
    let client: HTTPClient
    var timeout: TimeAmount = .seconds(2)

    var name: String { "callback:\(self.url)" }

    func accepts(_ event: RollupEvent) -> Bool {
        event.callbacks.contains(self.url)
    }

    func deliver(_ events: [RollupEvent]) async throws {
        for event in events {
            var request = HTTPClientRequest(url: self.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "Idempotency-Key", value: event.id)
            request.body = .bytes(ByteBuffer(string: event.json))
            let response = try await self.client.execute(request, timeout: self.timeout)
            // Read the answer through, so the connection can be reused.
            _ = try await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(response.status.code) else {
                throw CallbackError(url: self.url, status: Int(response.status.code))
            }
        }
    }
}

struct CallbackError: Error, CustomStringConvertible {
    let url: String
    let status: Int
    var description: String { "the callback \(self.url) answered \(self.status)" }
}
