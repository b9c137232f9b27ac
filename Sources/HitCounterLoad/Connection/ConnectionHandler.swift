import NIOCore

/// The only handler on a connection's channel: hands bytes and events to its `Connection`, tagged with
/// the generation of the channel, so that events from a channel already given up on are ignored.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let connection: Connection
    private let generation: Int
    private var context: ChannelHandlerContext?

    init(connection: Connection, generation: Int) {
        self.connection = connection
        self.generation = generation
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.connection.received(self.unwrapInboundIn(data), generation: self.generation)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.connection.closed(generation: self.generation)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.connection.failed(.reset, generation: self.generation)
        context.close(promise: nil)
    }

    func write(_ buffer: ByteBuffer) {
        self.context?.writeAndFlush(self.wrapOutboundOut(buffer), promise: nil)
    }

    func close() {
        self.context?.close(promise: nil)
    }
}
