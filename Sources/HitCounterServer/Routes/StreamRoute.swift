import HitCounter
import Hummingbird
import Logging
import NIOCore

/// `GET /stream?key=K`: Server-Sent Events, once a second, with the key's hits in the last second,
/// minute and hour, read from Redis in one round trip, so every replica streams the same numbers (see
/// docs/live-view.md).
///
/// Each event is `event: hits` with `{"key","now","second","previous","minute","hour","day"}`
/// (`previous`: the second before `now`, which is complete; each window at most the maximum range). A failed read sends `event: unavailable` and the
/// stream goes on; a comment line every 15 seconds keeps proxies from closing a quiet connection.
/// Open streams are capped (503 beyond the cap), and each ends with `event: end` within a second of
/// the service starting to drain, so streams never hold up a graceful shutdown.
struct StreamRoute: Sendable {
    let counter: HitCounter
    let drain: DrainState
    let streams: OpenStreams

    /// The windows of each event, in seconds: the current second, the last two, a minute, an hour, a day.
    private var ranges: [Int] { [1, 2, 60, 3600, 86_400].map { min($0, self.counter.maxRange) } }

    @Sendable func stream(request: Request, context: BasicRequestContext) async throws -> Response {
        let parameters = try RequestParameters(query: request.uri.query, allowed: ["key"])
        let key = try parameters.key()
        // A stream has no length to tell and no end, so no HEAD answer can say what GET's would
        // (Hummingbird's would say `Content-Length: 0`): HEAD is not one of its methods.
        guard request.method == .get else { throw RequestError.methodNotAllowed(.stream, request.method) }
        let headers: HTTPFields = [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store", .init("X-Accel-Buffering")!: "no"]
        guard !self.drain.isDraining else { throw RequestError.storeUnavailable("the service is shutting down") }
        guard let place = self.streams.open() else {
            throw RequestError.storeUnavailable("too many open streams (\(self.streams.limit)); try again later")
        }
        let logger = context.logger
        // The body holds the place: if it never runs (the head's write failed), dropping the answer
        // gives the place back.
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { place.release() }
            do {
                try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                try await self.events(key: key, writer: &writer, logger: logger)
                try await writer.write(ByteBuffer(string: "event: end\ndata: {\"reason\":\"the service is shutting down\"}\n\n"))
                try await writer.finish(nil)
            } catch {
                // The client went away: nothing to answer.
                logger.debug("stream ended", metadata: ["error": "\(error)"])
            }
        })
    }

    /// An event a second until the service drains, never two for the same second of Redis's clock.
    private func events(key: CounterKey, writer: inout any ResponseBodyWriter, logger: Logger) async throws {
        let clock = ContinuousClock()
        var next = clock.now
        var lastComment = clock.now
        var lastSecond: Int64?
        while !self.drain.isDraining {
            let event: String
            do {
                let counts = try await self.counter.counts(key: key, ranges: self.ranges)
                if counts.now == lastSecond {
                    // A tick that came late landed in the next second, so this one, on time, is in the same
                    // second: read again once Redis is in the next, and tick from then on.
                    try await Task.sleep(for: .milliseconds(50))
                    next = clock.now
                    continue
                }
                lastSecond = counts.now
                let data = JSONField.object([
                    "key": .string(key.description), "now": .integer(counts.now), "second": .integer(counts.hits[0]),
                    "previous": .integer(counts.hits[1] - counts.hits[0]), "minute": .integer(counts.hits[2]), "hour": .integer(counts.hits[3]),
                    "day": .integer(counts.hits[4]),
                ])
                event = "event: hits\ndata: \(data.text)\n\n"
            } catch {
                logger.debug("stream read failed", metadata: ["error": "\(error)"])
                event = "event: unavailable\ndata: {\"error\":{\"message\":\"the store is unavailable or too slow; the stream goes on\"}}\n\n"
            }
            try await writer.write(ByteBuffer(string: event))
            if clock.now - lastComment >= .seconds(15) {
                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                lastComment = clock.now
            }
            next = next.advanced(by: .seconds(1))
            // Waits for the next tick in slices, so a drain ends the stream promptly.
            while clock.now < next, !self.drain.isDraining {
                try await Task.sleep(until: min(next, clock.now.advanced(by: .milliseconds(100))), clock: clock)
            }
        }
    }
}
