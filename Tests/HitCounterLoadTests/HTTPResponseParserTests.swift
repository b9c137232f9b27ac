import NIOCore
import Testing

@testable import HitCounterLoad

/// Answers split anywhere, with every framing the parser knows.
@Suite struct HTTPResponseParserTests {
    /// Status, `X-Served-By` and keep-alive of each response in `stream`, fed in the given pieces.
    private func parse(_ pieces: [String]) throws -> [String] {
        var parser = HTTPResponseParser()
        var pending = ByteBuffer()
        var results: [String] = []
        for piece in pieces {
            pending.writeString(piece)
            while let response = try parser.parse(&pending) {
                results.append("\(response.status) \(response.servedBy.map { String(buffer: $0) } ?? "-") \(response.keepAlive)")
            }
        }
        if let response = parser.endOfInput() {
            let servedBy = response.servedBy.map { String(buffer: $0) } ?? "-"
            results.append("\(response.status) \(servedBy) \(response.keepAlive) eof")
        }
        #expect(parser.isBetweenResponses)
        return results
    }

    private let stream = [
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nx-served-by:  a \r\n\r\n",
        "{\"status\":\"ok\"}",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nCONTENT-LENGTH: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Served-By: replica-2\r\n\r\n",
        "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n",
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.0 400 Bad Request\r\nContent-Length: 2\r\n\r\nno",
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye",
    ].joined()

    private let expected = ["200 a true", "503 - true", "200 replica-2 true", "204 - true", "400 - false", "200 - false"]

    @Test func wholeStream() throws {
        #expect(try self.parse([self.stream]) == self.expected)
    }

    @Test func splitAtEveryByte() throws {
        let bytes = Array(self.stream.utf8)
        for split in 1..<bytes.count {
            let pieces = [String(decoding: bytes[..<split], as: UTF8.self), String(decoding: bytes[split...], as: UTF8.self)]
            #expect(try self.parse(pieces) == self.expected, "split at \(split)")
        }
        #expect(try self.parse(self.stream.map { String($0) }) == self.expected)
    }

    @Test func aBodyWithoutLengthEndsWithTheConnection() throws {
        #expect(try self.parse(["HTTP/1.1 200 OK\r\nX-Served-By: b\r\n\r\nsome", " body"]) == ["200 b false eof"])
    }

    @Test(arguments: [
        "HTTP/2 200\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
    ])
    func malformedAnswersAreErrors(text: String) {
        #expect(throws: HTTPResponseParser.MalformedResponse.self) { try self.parse([text]) }
    }

    @Test func anEndlessHeadIsAnError() {
        #expect(throws: HTTPResponseParser.MalformedResponse.self) {
            try self.parse(["HTTP/1.1 200 OK\r\n" + String(repeating: "X-Padding: 0123456789\r\n", count: 4000)])
        }
    }
}
