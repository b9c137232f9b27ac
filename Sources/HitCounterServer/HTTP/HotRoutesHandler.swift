import Dispatch
import HTTPTypes
import HitCounter
import Logging
import NIOCore
import NIOHTTPTypes
import Tracing

/// Answers the hot routes, `POST /hit` and `GET /hits`, on the connection's event loop: the request is
/// read, checked and counted with futures, and the Redis client's connection of this same loop
/// carries it, so no task is made, no router or middleware chain runs, and nothing changes thread
/// (docs/performance.md measured why).
///
/// It takes only what the router would answer with a success or a store error: the exact route and
/// method, no body, parameters that pass `HitRequest` / `HitsRequest` (the router's own checks), a
/// token that opens the route, and no access log to write (below debug). Anything else, a refusal
/// included, goes on unchanged to Hummingbird's router, which answers it as it answers everything.
/// Both paths write the same answer, record the same metrics and map errors with `RequestError`.
///
/// Requests on a connection may be pipelined. They are taken one at a time, as Hummingbird takes
/// them: a request that arrives while an earlier one is unanswered waits here (and the connection
/// reads no more meanwhile), so a read pipelined after hits sees them, whichever path answers each.
/// Answers leave in request order.
final class HotRoutesHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What the hot routes need of the service.
    struct Service: Sendable {
        let counter: HitCounter
        let callbackURLs: Set<String>
        let tokens: AccessTokens
        let metrics: RequestMetrics?
        let servedBy: String?
        /// When set, each request is a server span, its `traceparent` honoured, as the router's
        /// `TracingMiddleware` makes them.
        let tracer: (any Tracer)?
        /// Requests that Do-Not-Track may skip are the router's (`WebCounting.doesNotTrack`).
        var web = WebCounting()
        let logger: Logger
    }

    /// One request read and not yet answered, in order.
    private enum Slot {
        /// Answered by the router, after the slots before it.
        case router
        /// Answered here; nil while it is being counted.
        case hot(id: Int, answer: Answer?)
    }

    private struct Answer {
        let head: HTTPResponse
        let body: ByteBuffer
        let close: Bool
    }

    private enum Reading {
        case idle
        /// A candidate's head, held until its end shows it has no body.
        case hot(HTTPRequest, started: UInt64)
        /// The router's request: its parts go on.
        case router
    }

    private let service: Service
    private var reading = Reading.idle
    private var slots = CircularBuffer<Slot>()
    /// The router's answer, held while hot answers before it are still being counted.
    private var held: [(part: HTTPResponsePart, promise: EventLoopPromise<Void>?)] = []
    private var nextID = 0
    /// Requests read while an earlier one was unanswered, in order; their turn comes when it is.
    private var queued = CircularBuffer<HTTPRequestPart>()
    /// A read the channel asked for while requests were queued, passed on once they are taken.
    private var readPending = false

    init(service: Service) {
        self.service = service
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        if !self.queued.isEmpty || (part.isHead && !self.slots.isEmpty) {
            self.queued.append(part)
            return
        }
        self.take(part, data, context: context)
    }

    /// Holds the connection's reads while requests wait their turn.
    func read(context: ChannelHandlerContext) {
        if self.queued.isEmpty {
            context.read()
        } else {
            self.readPending = true
        }
    }

    /// Takes the queued requests, once every earlier one is answered, up to the next one that must wait.
    private func takeQueued(context: ChannelHandlerContext) {
        guard self.slots.isEmpty, !self.queued.isEmpty, context.channel.isActive else { return }
        var forwarded = false
        while let part = self.queued.first, !(part.isHead && !self.slots.isEmpty) {
            self.queued.removeFirst()
            forwarded = self.take(part, nil, context: context) || forwarded
        }
        if forwarded { context.fireChannelReadComplete() }
        if self.queued.isEmpty, self.readPending {
            self.readPending = false
            context.read()
        }
    }

    /// Reads one part of the request whose turn it is (`data`: the part as it arrived, if it did just
    /// now); true when it went on to the router.
    @discardableResult
    private func take(_ part: HTTPRequestPart, _ data: NIOAny?, context: ChannelHandlerContext) -> Bool {
        // Wrapped again only when it goes on and was queued: the hot routes' own parts go nowhere.
        func forward() { context.fireChannelRead(data ?? self.wrapInboundOut(part)) }
        switch (part, self.reading) {
        case (.head(let request), _):
            if Self.mayBeHot(request), !self.service.web.doesNotTrack(request.headerFields, tokens: self.service.tokens) {
                self.reading = .hot(request, started: DispatchTime.now().uptimeNanoseconds)
                return false
            }
            self.toRouter(request, context: context)
        case (.body, .hot(let request, _)):
            // Said it had no body, sent one anyway: the router deals with it.
            self.toRouter(request, context: context)
            forward()
        case (.end, .hot(let request, let started)):
            self.reading = .idle
            if self.answer(request, started: started, context: context) { return false }
            self.toRouter(request, context: context)
            forward()
        case (.end, _):
            self.reading = .idle
            forward()
        case (.body, _):
            forward()
        }
        return true
    }

    private func toRouter(_ request: HTTPRequest, context: ChannelHandlerContext) {
        self.reading = .router
        self.slots.append(.router)
        context.fireChannelRead(self.wrapInboundOut(.head(request)))
    }

    /// The route and method of a hot route, no body announced, and not from a page (`Origin`: the router's
    /// CORS rules apply).
    private static func mayBeHot(_ request: HTTPRequest) -> Bool {
        guard request.headerFields[.transferEncoding] == nil, (request.headerFields[.contentLength] ?? "0") == "0",
            request.headerFields[.origin] == nil, let path = request.path
        else { return false }
        let route = path.split(separator: "?", maxSplits: 1).first ?? ""
        return (request.method == .post && route == "/hit") || (request.method == .get && route == "/hits")
    }

    /// Starts answering `request` here; false when the router should answer it instead.
    private func answer(_ request: HTTPRequest, started: UInt64, context: ChannelHandlerContext) -> Bool {
        guard self.service.logger.logLevel > .debug, let path = request.path else { return false }
        let query = path.firstIndex(of: "?").map { String(path[path.index(after: $0)...]) }
        let loop = context.eventLoop
        let route: Route
        let answered: EventLoopFuture<JSONObject>
        let span: (any Span)?
        do {
            if request.method == .post {
                route = .hit
                let hit = try HitRequest(RequestParameters(query: query, allowed: HitRequest.parameters), callbackURLs: self.service.callbackURLs)
                guard self.opens(route, request) else { return false }
                span = self.startSpan(route, request)
                answered = self.service.counter.hit(key: hit.key, count: hit.count, id: hit.id, callback: hit.callback, on: loop, context: span?.context)
                    .map(hit.answer)
            } else {
                route = .hits
                let read = try HitsRequest(RequestParameters(query: query, allowed: HitsRequest.parameters), maxRange: self.service.counter.maxRange)
                guard self.opens(route, request) else { return false }
                span = self.startSpan(route, request)
                answered = self.service.counter.hits(key: read.key, range: read.range, unique: read.unique, on: loop, context: span?.context)
                    .map(read.answer)
            }
        } catch {
            return false
        }
        let id = self.nextID
        self.nextID += 1
        self.slots.append(.hot(id: id, answer: nil))
        let inFlight = self.service.metrics?.inFlight(request.method)
        inFlight?.increment()
        let close = request.headerFields[.connection] == "close"
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        answered.whenComplete { result in
            let (handler, context) = bound.value
            inFlight?.decrement()
            let answer = handler.answer(result, route: route, close: close, span: span)
            if let metrics = handler.service.metrics?.route(route.path, request.method, answer.head.status) {
                metrics.record(since: started)
                metrics.errors?.increment()
            }
            if let span { Self.end(span, status: answer.head.status) }
            handler.complete(id, with: answer, context: context)
        }
        return true
    }

    private func opens(_ route: Route, _ request: HTTPRequest) -> Bool {
        guard let access = route.access else { return true }
        return self.service.tokens.allows(access, presented: request.headerFields[.authorization].flatMap(AccessTokens.bearerToken))
    }

    /// A server span for `request`, as the router's `TracingMiddleware` makes one, when tracing.
    private func startSpan(_ route: Route, _ request: HTTPRequest) -> (any Span)? {
        guard let tracer = self.service.tracer else { return nil }
        var parent = ServiceContext.topLevel
        tracer.extract(request.headerFields, into: &parent, using: HTTPFieldsExtractor())
        let span = tracer.startSpan(route.path, context: parent, ofKind: .server)
        guard span.isRecording else { return span }
        span.updateAttributes { attributes in
            attributes["http.request.method"] = request.method.rawValue
            attributes["url.path"] = route.path
            attributes["http.route"] = route.path
            attributes["user_agent.original"] = request.headerFields[.userAgent]
        }
        return span
    }

    private static func end(_ span: any Span, status: HTTPResponse.Status) {
        if span.isRecording { span.attributes["http.response.status_code"] = status.code }
        if status.kind == .serverError { span.setStatus(SpanStatus(code: .error)) }
        span.end()
    }

    /// The answer of a counted request: its JSON, or the refusal `RequestError.answering` gives (its
    /// log line, if any, carries the request's span ids).
    private func answer(_ result: Result<JSONObject, any Error>, route: Route, close: Bool, span: (any Span)?) -> Answer {
        var fields: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        let status: HTTPResponse.Status
        let body: ByteBuffer
        switch result {
        case .success(let object):
            status = .ok
            body = ByteBuffer(string: object.text)
        case .failure(let error):
            let refusal = ServiceContext.withValue(span?.context ?? ServiceContext.current) {
                RequestError.answering(error, logger: self.service.logger)
            }
            status = refusal.status
            body = RequestError.body(refusal.message)
            fields.append(contentsOf: refusal.headers)
        }
        fields[.contentLength] = String(body.readableBytes)
        fields[.date] = HTTPDate.now
        fields[.server] = "HitCounter"
        if let name = self.service.servedBy { fields[.servedBy] = name }
        // As `CORSMiddleware` says on every answer of a route pages may call.
        fields.append(contentsOf: self.service.web.origins(for: route).headersOnEveryAnswer)
        if close { fields[.connection] = "close" }
        return Answer(head: HTTPResponse(status: status, headerFields: fields), body: body, close: close)
    }

    // MARK: Answers, in order

    private func complete(_ id: Int, with answer: Answer, context: ChannelHandlerContext) {
        guard let index = self.slots.firstIndex(where: { if case .hot(id, _) = $0 { true } else { false } }) else { return }
        self.slots[index] = .hot(id: id, answer: answer)
        self.writeReady(context: context)
    }

    /// The router's answer goes out when its request is the oldest one unanswered.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .router? = self.slots.first, self.held.isEmpty {
            let part = self.unwrapOutboundIn(data)
            context.write(data, promise: promise)
            if case .end = part {
                _ = self.slots.popFirst()
                self.writeReady(context: context)
            }
        } else {
            self.held.append((self.unwrapOutboundIn(data), promise))
        }
    }

    /// Writes every answer that is ready, oldest first, up to the first one that is not.
    private func writeReady(context: ChannelHandlerContext) {
        var wrote = false
        loop: while let first = self.slots.first {
            switch first {
            case .hot(_, let answer?):
                _ = self.slots.popFirst()
                context.write(self.wrapOutboundOut(.head(answer.head)), promise: nil)
                context.write(self.wrapOutboundOut(.body(answer.body)), promise: nil)
                let ended = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
                if answer.close {
                    ended.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                    return
                }
                wrote = false
            case .hot(_, nil):
                break loop
            case .router:
                // The router's answer so far; once its end is out, the next request's turn comes.
                guard !self.held.isEmpty else { break loop }
                var ended = false
                while !self.held.isEmpty, !ended {
                    let (part, promise) = self.held.removeFirst()
                    context.write(self.wrapOutboundOut(part), promise: promise)
                    if case .end = part { ended = true }
                }
                wrote = true
                guard ended else { break loop }
                _ = self.slots.popFirst()
            }
        }
        if wrote { context.flush() }
        self.takeQueuedLater(context: context)
    }

    /// The next queued request's turn, on the next tick of the loop: never from inside a write.
    private func takeQueuedLater(context: ChannelHandlerContext) {
        guard self.slots.isEmpty, !self.queued.isEmpty else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = bound.value
            handler.takeQueued(context: context)
        }
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
    }
}

extension HTTPRequestPart {
    fileprivate var isHead: Bool {
        if case .head = self { true } else { false }
    }
}
