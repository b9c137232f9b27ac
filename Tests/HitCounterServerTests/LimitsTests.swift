import AsyncHTTPClient
import Foundation
import TestSupport
import Testing

/// What one client may hold, on the real binary: header bytes, time and connections. Each refusal
/// is a JSON error, like every other one.
@Suite struct LimitsTests {
    @Test func oversizedHeadersGet431AndTheConnectionCloses() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        let connection = try RawConnection(port: server.port)
        try await connection.send("GET /hits HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n")
        let answer = try await connection.receive(timeout: .seconds(5))
        #expect(answer.text.hasPrefix("HTTP/1.1 431 "), "\(answer.text)")
        #expect(answer.text.hasSuffix(
            #"{"error":{"message":"the request line and headers are over 16384 bytes, a header over 8192 bytes, or more than 100 headers"}}"# + "\n"
        ))
        #expect(answer.closed)

        // Under the limits, headers of a few kilobytes are fine.
        let fine = try RawConnection(port: server.port)
        try await fine.send("GET /hits HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: \(String(repeating: "a", count: 4000))\r\n\r\n")
        #expect(try await fine.receive(timeout: .seconds(5)).text.hasPrefix("HTTP/1.1 200 "))
    }

    @Test func tooManyHeadersGet431() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        let connection = try RawConnection(port: server.port)
        let headers = (0..<101).map { "X-H\($0): 1\r\n" }.joined()
        try await connection.send("GET /hits HTTP/1.1\r\nHost: x\r\n\(headers)\r\n")
        #expect(try await connection.receive(timeout: .seconds(5)).text.hasPrefix("HTTP/1.1 431 "))
    }

    @Test func malformedRequestGets400Json() async throws {
        let server = try await ServerProcess(["--store", "memory"])
        let connection = try RawConnection(port: server.port)
        try await connection.send("GARBAGE\r\n\r\n")
        let answer = try await connection.receive(timeout: .seconds(5))
        #expect(answer.text.hasPrefix("HTTP/1.1 400 "), "\(answer.text)")
        #expect(answer.text.hasSuffix(#"{"error":{"message":"the request is not valid HTTP/1.1"}}"# + "\n"))
        #expect(answer.closed)
    }

    @Test func aBodyThatNeverFinishesGets408() async throws {
        let server = try await ServerProcess(["--store", "memory", "--request-timeout", "0.3"])
        let connection = try RawConnection(port: server.port)
        try await connection.send("POST /hit HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"ke")
        let answer = try await connection.receive(timeout: .seconds(5))
        #expect(answer.text.hasPrefix("HTTP/1.1 408 "), "\(answer.text)")
        #expect(answer.text.hasSuffix(#"{"error":{"message":"the request body did not arrive within 0.3 seconds"}}"# + "\n"))

        // Nothing was counted.
        let hits = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(server.port)/hits"), timeout: .seconds(5))
        #expect(String(buffer: try await hits.body.collect(upTo: 1024)) == #"{"key":"default","range":60,"hits":0}"# + "\n")
    }

    @Test func idleConnectionsAndUnfinishedHeadersAreClosed() async throws {
        let server = try await ServerProcess(["--store", "memory", "--idle-timeout", "0.3"])
        let idle = try RawConnection(port: server.port)
        let halfHeaders = try RawConnection(port: server.port)
        try await halfHeaders.send("GET /hits HTTP/1.1\r\nHost: x\r\n")
        // Closed, not answered: how long a busy machine takes to close them is not what is tested.
        #expect(try await idle.receive(timeout: .seconds(20)) == ("", true))
        #expect(try await halfHeaders.receive(timeout: .seconds(20)) == ("", true))
    }

    @Test func connectionsBeyondTheCapWaitUntilOneCloses() async throws {
        let server = try await ServerProcess(["--store", "memory", "--max-connections", "2"])
        // Each holder is served once (so it is surely accepted), then stays open, idle.
        var holders: [RawConnection] = []
        for _ in 0..<2 {
            let holder = try RawConnection(port: server.port)
            try await holder.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            let served = try await holder.receive(timeout: .seconds(30)) { parseResponses($0).first?.body.hasSuffix("\n") == true }
            #expect(served.text.hasPrefix("HTTP/1.1 200 ") && !served.closed, "\(served)")
            holders.append(holder)
        }

        let third = try RawConnection(port: server.port)
        try await third.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let waiting = try await third.receive(timeout: .seconds(1))
        #expect(waiting == ("", false), "not accepted while two connections are open")

        holders[0].close()
        let answer = try await third.receive(timeout: .seconds(10))
        #expect(answer.text.hasPrefix("HTTP/1.1 200 "), "accepted once one closed: \(answer.text)")
    }
}
