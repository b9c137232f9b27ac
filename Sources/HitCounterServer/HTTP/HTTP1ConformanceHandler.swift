import HitCounter
import NIOCore
import NIOHTTP1

/// The HTTP/1.1 rules that need the request's version, which is gone once Hummingbird converts the
/// request to swift-http-types. It sits between NIO's parser and that conversion:
///
/// - **Persistence (RFC 9112 9.3).** A request that does not ask to keep the connection (HTTP/1.0
///   without `Connection: keep-alive`, or `Connection: close`) gets `Connection: close` and the
///   connection closes after the answer; an HTTP/1.0 keep-alive request gets `Connection: keep-alive`.
/// - **Host (RFC 9112 3.2).** An HTTP/1.1 request without `Host`, any request with more than one, or
///   one whose value is not a host (`a/b?c`), is answered 400 and the connection closes.
/// - **CONNECT** is refused (400) and the connection closes: NIO's parser reads nothing after it.
/// - **Expect (RFC 9110 10.1.1).** `Expect: 100-continue` gets its `100 Continue` when the request's
///   turn comes, so the client sends its body at once instead of waiting; any other expectation is
///   answered 417.
///
/// Requests may be pipelined: each one's answer, its `100` and its refusal wait for the answers to
/// the requests before it.
final class HTTP1ConformanceHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// A request read and not yet answered.
    private struct Pending {
        let version: HTTPVersion
        let keepAlive: Bool
        var expectsContinue: Bool
        /// Answered here instead of by the service: the status and the message.
        let refusal: (status: HTTPResponseStatus, message: String)?
    }

    private var pending = CircularBuffer<Pending>()
    /// After a refusal, nothing more is read from the connection: it closes once the refusal is sent.
    private var discarding = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.discarding else { return }
        guard case .head(var head) = self.unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        let request = Self.examine(head)
        self.pending.append(request)
        if request.refusal != nil {
            self.discarding = true
            if self.pending.count == 1 { self.refuse(context: context) }
            return
        }
        if !request.keepAlive {
            // Hummingbird closes the connection after answering a request that says so.
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        context.fireChannelRead(self.wrapInboundOut(.head(head)))
        if self.pending.count == 1 { self.sendContinueIfExpected(context: context) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200:
            if let request = self.pending.first {
                if !request.keepAlive {
                    head.headers.replaceOrAdd(name: "connection", value: "close")
                } else if request.version == .http1_0 {
                    head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
                }
            }
            context.write(self.wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            context.write(data, promise: promise)
            _ = self.pending.popFirst()
            guard let next = self.pending.first else { return }
            if next.refusal != nil {
                self.refuse(context: context)
            } else {
                self.sendContinueIfExpected(context: context)
            }
        default:
            context.write(data, promise: promise)
        }
    }

    private static func examine(_ head: HTTPRequestHead) -> Pending {
        let hosts = head.headers["host"].count
        let expectation = head.headers["expect"].first?.lowercased()
        let atLeast11 = head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1)
        var refusal: (HTTPResponseStatus, String)?
        if head.method == .CONNECT {
            // NIO's parser stops reading after a CONNECT (a tunnel would follow): answer and close.
            refusal = (.badRequest, "this service is not a proxy: CONNECT is not supported")
        } else if hosts > 1 {
            refusal = (.badRequest, "the request has more than one Host header")
        } else if hosts == 0 && atLeast11 {
            refusal = (.badRequest, "an HTTP/1.1 request needs a Host header")
        } else if let host = head.headers["host"].first, !Self.isValidHost(host) {
            refusal = (.badRequest, "the Host header must be a host and maybe a port (RFC 9110 7.2)")
        } else if let expectation, expectation != "100-continue", atLeast11 {
            refusal = (.expectationFailed, "the only expectation this service meets is Expect: 100-continue")
        }
        return Pending(
            version: head.version, keepAlive: head.isKeepAlive,
            expectsContinue: expectation == "100-continue" && atLeast11, refusal: refusal
        )
    }

    /// `uri-host [":" port]` (RFC 9112 3.2, RFC 3986 3.2.2): an IP literal in brackets, or a name of
    /// unreserved characters, sub-delimiters and percent-escapes; an empty value is valid (a target
    /// without an authority).
    static func isValidHost(_ value: String) -> Bool {
        var rest = Substring(value)
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return false }
            let literal = rest[rest.index(after: rest.startIndex)..<close]
            guard !literal.isEmpty, literal.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." || $0 == "v" || $0 == "V" }) else { return false }
            rest = rest[rest.index(after: close)...]
        } else {
            let name = rest.prefix { $0 != ":" }
            var bytes = name.utf8[...]
            while let byte = bytes.popFirst() {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    continue
                case UInt8(ascii: "%"):
                    guard let high = bytes.popFirst(), let low = bytes.popFirst(), Character(UnicodeScalar(high)).isHexDigit,
                        Character(UnicodeScalar(low)).isHexDigit
                    else { return false }
                default:
                    guard "-._~!$&'()*+,;=".utf8.contains(byte) else { return false }
                }
            }
            rest = rest[name.endIndex...]
        }
        guard !rest.isEmpty else { return true }
        return rest.first == ":" && rest.dropFirst().utf8.count <= 5 && rest.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// Tells a client waiting to send its body to go ahead, once its request is the one being answered.
    private func sendContinueIfExpected(context: ChannelHandlerContext) {
        guard self.pending.first?.expectsContinue == true else { return }
        self.pending[self.pending.startIndex].expectsContinue = false
        context.writeAndFlush(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
    }

    /// Answers the refused request at the head of the queue with a JSON error, then closes.
    private func refuse(context: ChannelHandlerContext) {
        guard let refusal = self.pending.first?.refusal else { return }
        let body = RequestError.body(refusal.message)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json; charset=utf-8")
        headers.add(name: "content-length", value: String(body.readableBytes))
        headers.add(name: "connection", value: "close")
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: refusal.status, headers: headers))), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}
