import CHiredis
import NIOCore

/// Parses RESP replies with hiredis's reader: bytes in, `RESPValue`s out.
///
/// It owns one `redisReader` and frees it in `deinit`; no pointer escapes. It is used only from the
/// event loop of the connection that owns it, so it needs no lock and is not `Sendable`.
final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        // redisReaderCreate only returns NULL when malloc fails.
        guard let reader = redisReaderCreate() else { fatalError("hiredis: out of memory creating a reader") }
        self.reader = reader
    }

    deinit {
        redisReaderFree(self.reader)
    }

    /// Hands bytes read from the socket to the parser.
    func feed(_ buffer: ByteBuffer) throws(RedisError) {
        let status = buffer.withUnsafeReadableBytes { bytes in
            redisReaderFeed(self.reader, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        guard status == REDIS_OK else { throw self.protocolError() }
    }

    /// The next complete reply, or nil when more bytes are needed.
    func next() throws(RedisError) -> RESPValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(self.reader, &raw) == REDIS_OK else { throw self.protocolError() }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.copy(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func protocolError() -> RedisError {
        let message = withUnsafeBytes(of: self.reader.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return .protocolError(message)
    }

    private static func copy(_ reply: UnsafePointer<redisReply>) -> RESPValue {
        let reply = reply.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .bulkString(Self.bytes(reply.str, reply.len))
        case REDIS_REPLY_STATUS:
            return .simpleString(String(decoding: Self.bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: Self.bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(Int(reply.elements))
            for index in 0..<Int(reply.elements) {
                if let element = reply.element[index] {
                    elements.append(Self.copy(element))
                } else {
                    elements.append(.null)
                }
            }
            return .array(elements)
        default:
            // RESP3 types never arrive on a RESP2 connection.
            return .error("ERR unexpected reply type \(reply.type)")
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }
}
