// `GET /healthz` on HummingbirdCore's HTTP/1 server with a responder of its own: no router, no
// middleware, no request context. Usage: core-responder PORT
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix

// As HitCounterServer does: Swift concurrency on NIO's event loops.
_ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 8090
let body = ByteBuffer(string: #"{"status":"ok"}"# + "\n")
let server = HTTP1Channel(responder: { request, responseWriter, _ in
    let status: HTTPResponse.Status = request.uri.path == "/healthz" ? .ok : .notFound
    try await responseWriter.write(
        response: HTTPResponse(status: status, headerFields: [.contentType: "application/json; charset=utf-8", .contentLength: "\(body.readableBytes)"]),
        body: ResponseBody(byteBuffer: body)
    )
}).server(
    configuration: .init(address: .hostname("127.0.0.1", port: port)), eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
    logger: Logger(label: "core-responder")
)
try await server.run()
