import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// The service's HTTP/1 channel: Hummingbird's server core (its pipeline parts, connection states,
/// idle timeout, graceful shutdown and request loop), with handlers of ours in it:
///
/// - `RequestLineCheck`, before NIO's parser, for the first request line;
/// - `HTTP1ConformanceHandler`, before the conversion to swift-http-types (after it, the request's
///   version is gone);
/// - `HotRoutesHandler`, after Hummingbird's connection state handler (so idle timeouts and graceful
///   shutdown see every request) and before the router, which answers everything it does not.
struct HTTP1ServerChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let configuration: HTTP1Channel.Configuration
    let hotRoutes: HotRoutesHandler.Service?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = self.configuration.httpDecoder.maxHeaderFieldSize
            limits.maxHeaderListSize = self.configuration.httpDecoder.maxHeaderListSize
            limits.maxHeaderFieldCount = self.configuration.httpDecoder.maxHeaderFieldCount
            let operations = channel.pipeline.syncOperations
            // As Hummingbird's HTTP1Channel sets it up; the request loop below does pipelining and errors.
            try operations.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits
            )
            // Before NIO's parser, which would wait for the headers of an HTTP/0.9 line.
            try operations.addHandler(RequestLineCheck(), position: .first)
            try operations.addHandler(HTTP1ConformanceHandler())
            try operations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try operations.addHandlers(self.configuration.additionalChannelHandlers())
            try operations.addHandler(HTTPConnectionStateHandler(idleTimeout: self.configuration.idleTimeout.map { .init($0) }, logger: logger))
            if let hotRoutes = self.hotRoutes {
                try operations.addHandler(HotRoutesHandler(service: hotRoutes))
            }
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await self.handleHTTP(asyncChannel: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 through `HTTP1ServerChannel`.
    static func hitCounterHTTP1(configuration: HTTP1Channel.Configuration, hotRoutes: HotRoutesHandler.Service?) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            HTTP1ServerChannel(responder: responder, configuration: configuration, hotRoutes: hotRoutes)
        }
    }
}
