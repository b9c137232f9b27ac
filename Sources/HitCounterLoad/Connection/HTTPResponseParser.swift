import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads HTTP/1.1 responses from a byte stream, one at a time, keeping only what the report needs.
///
/// The tool sends one request at a time per connection and never reads a body, so this is far smaller
/// than a general codec: it finds the status, `X-Served-By`, whether the connection stays open, and
/// where the body ends (`Content-Length`, chunked, or the end of the connection); the body itself is
/// skipped. Bytes may arrive split anywhere: `parse` consumes what it can and keeps its place.
struct HTTPResponseParser {
    struct Response {
        var status: Int
        /// The `X-Served-By` value: a view into the received bytes, nothing copied.
        var servedBy: ByteBuffer?
        /// False after `Connection: close`, an HTTP/1.0 answer without keep-alive, or a body that ends with the connection.
        var keepAlive: Bool
    }

    struct MalformedResponse: Error, CustomStringConvertible {
        let description: String
    }

    private enum State {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
    }

    private enum Framing {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    static let maxHeadBytes = 64 * 1024
    static let maxLineBytes = 4096

    private var state = State.head
    /// The head of the response whose body is being read.
    private var response = Response(status: 0, servedBy: nil, keepAlive: true)

    /// True between responses: no part of one has been read.
    var isBetweenResponses: Bool {
        if case .head = self.state { return true }
        return false
    }

    /// Consumes bytes from `buffer` and returns the response they complete, if any. Call again while
    /// it returns one: bytes after it stay in `buffer`.
    mutating func parse(_ buffer: inout ByteBuffer) throws -> Response? {
        while true {
            switch self.state {
            case .head:
                guard let length = Self.find("\r\n\r\n", in: buffer) else {
                    guard buffer.readableBytes <= Self.maxHeadBytes else { throw MalformedResponse(description: "a response head over 64 KiB") }
                    return nil
                }
                let (head, framing, servedBy) = try buffer.withUnsafeReadableBytes {
                    try Self.parseHead(UnsafeRawBufferPointer(rebasing: $0[..<length]))
                }
                self.response = head
                self.response.servedBy = servedBy.flatMap { buffer.getSlice(at: buffer.readerIndex + $0.lowerBound, length: $0.count) }
                buffer.moveReaderIndex(forwardBy: length + 4)
                if (100..<200).contains(head.status) {
                    // An interim answer (100 Continue): the real one follows.
                    guard head.status != 101 else { throw MalformedResponse(description: "an unexpected 101 Switching Protocols") }
                    continue
                }
                switch framing {
                case .none, .length(0):
                    return self.response
                case .length(let length):
                    self.state = .fixedBody(remaining: length)
                case .chunked:
                    self.state = .chunkSize
                case .untilClose:
                    self.response.keepAlive = false
                    self.state = .untilClose
                }

            case .fixedBody(let remaining):
                let skipped = min(remaining, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: skipped)
                guard skipped == remaining else {
                    self.state = .fixedBody(remaining: remaining - skipped)
                    return nil
                }
                self.state = .head
                return self.response

            case .chunkSize:
                guard let line = try Self.line(in: buffer) else { return nil }
                let size = try buffer.withUnsafeReadableBytes { try Self.chunkSize(UnsafeRawBufferPointer(rebasing: $0[..<line])) }
                buffer.moveReaderIndex(forwardBy: line + 2)
                self.state = size == 0 ? .trailers : .chunkData(remaining: size)

            case .chunkData(let remaining):
                let skipped = min(remaining, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: skipped)
                guard skipped == remaining else {
                    self.state = .chunkData(remaining: remaining - skipped)
                    return nil
                }
                self.state = .chunkDataEnd

            case .chunkDataEnd:
                guard buffer.readableBytes >= 2 else { return nil }
                guard buffer.readInteger(as: UInt16.self) == 0x0D0A else { throw MalformedResponse(description: "a chunk not followed by CRLF") }
                self.state = .chunkSize

            case .trailers:
                guard let line = try Self.line(in: buffer) else { return nil }
                buffer.moveReaderIndex(forwardBy: line + 2)
                if line == 0 {
                    self.state = .head
                    return self.response
                }

            case .untilClose:
                buffer.moveReaderIndex(to: buffer.writerIndex)
                return nil
            }
        }
    }

    /// The connection has ended: completes a response whose body runs to the end of the connection.
    mutating func endOfInput() -> Response? {
        guard case .untilClose = self.state else { return nil }
        self.state = .head
        return self.response
    }

    // MARK: - Head

    /// The status line and the headers that matter, from the bytes before the blank line.
    ///
    /// Works on a raw pointer with C string functions: this runs once per answer, and generic
    /// collection code would cost more than the rest of the tool's work per request.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer) throws -> (Response, Framing, servedBy: Range<Int>?) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw MalformedResponse(description: "an empty response head")
        }
        let count = bytes.count
        // "HTTP/1.1 200 OK"
        guard count >= 12, memcmp(base, "HTTP/1.", 7) == 0, base[8] == UInt8(ascii: " "),
            let status = Self.decimal(base + 9, 3), count == 12 || base[12] == UInt8(ascii: " ") || base[12] == UInt8(ascii: "\r")
        else {
            throw MalformedResponse(description: "a status line that is not HTTP/1.x NNN")
        }
        var keepAlive = base[7] != UInt8(ascii: "0")
        var length: Int?
        var chunked = false
        var servedBy: Range<Int>?

        var lineStart = Self.lineEnd(base, from: 0, count: count) + 2
        while lineStart < count {
            let lineEnd = Self.lineEnd(base, from: lineStart, count: count)
            defer { lineStart = lineEnd + 2 }
            guard let colonPointer = memchr(base + lineStart, Int32(UInt8(ascii: ":")), lineEnd - lineStart) else {
                throw MalformedResponse(description: "a header line without a colon")
            }
            let colon = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(colonPointer))
            let name = base + lineStart
            let nameLength = colon - lineStart
            var valueStart = colon + 1
            var valueEnd = lineEnd
            while valueStart < valueEnd, base[valueStart] == 0x20 || base[valueStart] == 0x09 { valueStart += 1 }
            while valueEnd > valueStart, base[valueEnd - 1] == 0x20 || base[valueEnd - 1] == 0x09 { valueEnd -= 1 }
            let value = base + valueStart
            let valueLength = valueEnd - valueStart
            // Checking the length first leaves most headers at one comparison.
            switch nameLength {
            case 14 where strncasecmp(name, "content-length", 14) == 0:
                guard let parsed = Self.decimal(value, valueLength), length == nil || length == parsed else {
                    throw MalformedResponse(description: "an invalid Content-Length")
                }
                length = parsed
            case 10 where strncasecmp(name, "connection", 10) == 0:
                if Self.contains(value, valueLength, "close") { keepAlive = false }
                if Self.contains(value, valueLength, "keep-alive") { keepAlive = true }
            case 17 where strncasecmp(name, "transfer-encoding", 17) == 0:
                if Self.contains(value, valueLength, "chunked") { chunked = true }
            case 11 where strncasecmp(name, "x-served-by", 11) == 0:
                servedBy = valueStart..<valueEnd
            default:
                break
            }
        }

        let framing: Framing
        if (100..<200).contains(status) || status == 204 || status == 304 {
            framing = .none
        } else if chunked {
            framing = .chunked
        } else if let length {
            framing = .length(length)
        } else {
            framing = .untilClose
        }
        return (Response(status: status, servedBy: nil, keepAlive: keepAlive), framing, servedBy)
    }

    /// The offset of the CRLF ending the line at `start`, or `count` for the last line.
    private static func lineEnd(_ base: UnsafePointer<UInt8>, from start: Int, count: Int) -> Int {
        var offset = start
        while offset < count, let found = memchr(base + offset, 0x0D, count - offset) {
            let position = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
            if position + 1 < count, base[position + 1] == 0x0A { return position }
            offset = position + 1
        }
        return count
    }

    /// A non-negative decimal number of 1 to 15 digits.
    private static func decimal(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int? {
        guard count > 0, count <= 15 else { return nil }
        var value = 0
        for index in 0..<count {
            let byte = bytes[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte &- UInt8(ascii: "0"))
        }
        return value
    }

    /// Whether the value holds `token`, ignoring case (`Connection: Keep-Alive`, `gzip, chunked`).
    private static func contains(_ value: UnsafePointer<UInt8>, _ count: Int, _ token: StaticString) -> Bool {
        let length = token.utf8CodeUnitCount
        guard count >= length else { return false }
        for offset in 0...(count - length) where strncasecmp(value + offset, token.utf8Start, length) == 0 {
            return true
        }
        return false
    }

    // MARK: - Bytes

    /// The length of the line at the reader index (without its CRLF), or nil until it is complete.
    private static func line(in buffer: ByteBuffer) throws -> Int? {
        if let length = Self.find("\r\n", in: buffer) { return length }
        guard buffer.readableBytes <= Self.maxLineBytes else { throw MalformedResponse(description: "a chunk line over 4 KiB") }
        return nil
    }

    /// The hexadecimal size at the start of a chunk line (extensions after `;` ignored).
    private static func chunkSize(_ line: UnsafeRawBufferPointer) throws -> Int {
        var size = 0
        var digits = 0
        for byte in line {
            let digit: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(byte - UInt8(ascii: "A") + 10)
            case UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"):
                guard digits > 0 else { throw MalformedResponse(description: "a chunk size that is not hexadecimal") }
                return size
            default: throw MalformedResponse(description: "a chunk size that is not hexadecimal")
            }
            digits += 1
            guard digits <= 15 else { throw MalformedResponse(description: "a chunk size too large") }
            size = size << 4 | digit
        }
        guard digits > 0 else { throw MalformedResponse(description: "an empty chunk size") }
        return size
    }

    /// The offset of `needle` from the reader index, found with `memchr` (fast even in a debug build).
    private static func find(_ needle: StaticString, in buffer: ByteBuffer) -> Int? {
        buffer.withUnsafeReadableBytes { Self.find(needle, in: $0, from: 0) }
    }

    /// `needle` starts with `\r`: `memchr` finds each candidate, then the rest is compared.
    private static func find(_ needle: StaticString, in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        let needleLength = needle.utf8CodeUnitCount
        let first = Int32(needle.utf8Start.pointee)
        var offset = start
        while offset + needleLength <= bytes.count {
            guard let found = memchr(base + offset, first, bytes.count - offset - needleLength + 1) else { return nil }
            let position = base.distance(to: UnsafeRawPointer(found))
            if memcmp(found, needle.utf8Start, needleLength) == 0 { return position }
            offset = position + 1
        }
        return nil
    }
}
