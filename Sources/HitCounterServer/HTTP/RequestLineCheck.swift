import NIOCore

/// Refuses an HTTP/0.9 request line (`GET /` with no version) at once: NIO's parser takes it for the
/// start of a request and waits for headers that never come, so the client would wait out the idle
/// timeout. It reads a connection's first line, before NIO's parser: a line without a version is
/// answered 400 with the usual JSON error and the connection closes; any other line goes on to the
/// parser, and this handler leaves the pipeline. (A version-less line pipelined after a good request
/// is still closed at the idle timeout: a client that speaks HTTP/0.9 does not send HTTP/1.1 first.)
final class RequestLineCheck: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What came before the first line ended.
    private var buffered: ByteBuffer?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        if var held = self.buffered {
            held.writeBuffer(&bytes)
            bytes = held
        }
        let readable = bytes.readableBytesView
        guard let end = readable.firstIndex(of: UInt8(ascii: "\n")) else {
            // A line longer than the header limit is the parser's to refuse (431).
            if bytes.readableBytes > HTTPLimits.maxHeaderListBytes {
                self.pass(bytes, context: context)
            } else {
                self.buffered = bytes
            }
            return
        }
        var line = readable[readable.startIndex..<end]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        // `METHOD target` and nothing more: HTTP/0.9.
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        if parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty {
            self.refuse(context: context)
            return
        }
        self.pass(bytes, context: context)
    }

    private func pass(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        self.buffered = nil
        context.fireChannelRead(self.wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }

    private func refuse(context: ChannelHandlerContext) {
        self.buffered = nil
        let body = RequestError.body("the request line has no HTTP version: this service speaks HTTP/1.0 and HTTP/1.1, not HTTP/0.9")
        var answer = context.channel.allocator.buffer(capacity: 160 + body.readableBytes)
        answer.writeString("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\n")
        answer.writeString("Content-Length: \(body.readableBytes)\r\nConnection: close\r\n\r\n")
        answer.writeImmutableBuffer(body)
        context.writeAndFlush(self.wrapOutboundOut(answer)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
