import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request NIO's parser refuses with a JSON error, as every other refusal is answered,
/// then closes the connection: 431 when its headers are over `HTTPLimits`, 400 otherwise.
///
/// Without it Hummingbird answers these with an empty 400. It sits in the channel, after the HTTP
/// codec: a parse error never reaches a route, since no request was ever formed.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Requests read whose answer is not written yet. While one is, the answer to the bad request
    /// would interleave with it, so the error goes on to Hummingbird instead (an empty 400).
    private var unanswered = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = self.unwrapInboundIn(data) { self.unanswered += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) { self.unanswered -= 1 }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError, self.unanswered == 0 else {
            context.fireErrorCaught(error)
            return
        }
        let (status, message): (HTTPResponse.Status, String) =
            parseError == .headerOverflow
            ? (.requestHeaderFieldsTooLarge, "the request line and headers are over \(HTTPLimits.maxHeaderListBytes) bytes, a header over \(HTTPLimits.maxHeaderFieldBytes) bytes, or more than \(HTTPLimits.maxHeaderFieldCount) headers")
            : (.badRequest, "the request is not valid HTTP/1.1")
        let body = RequestError.body(message)
        let head = HTTPResponse(status: status, headerFields: [
            .contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes), .connection: "close",
        ])
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
