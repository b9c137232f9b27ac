import NIOCore
import Testing

@testable import HitCounter

/// The thin hiredis layer: commands out, replies in, bytes intact.
@Suite struct RedisProtocolTests {
    @Test func encodesBinaryArgumentsVerbatim() {
        let command = RedisCommand("SET", [RedisArgument(bytes: [0, 13, 10, 255]), "v"])
        #expect(Array(command.encoded.readableBytesView) == Array("*3\r\n$3\r\nSET\r\n$4\r\n".utf8) + [0, 13, 10, 255] + Array("\r\n$1\r\nv\r\n".utf8))
        #expect(Array(RedisCommand("PING").encoded.readableBytesView) == Array("*1\r\n$4\r\nPING\r\n".utf8))
        #expect(Array(RedisCommand("GET", [""]).encoded.readableBytesView) == Array("*2\r\n$3\r\nGET\r\n$0\r\n\r\n".utf8))
    }

    @Test func parsesEveryReplyType() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "+OK\r\n-ERR bad\r\n:-42\r\n$3\r\na\0b\r\n$-1\r\n*2\r\n*1\r\n:1\r\n$0\r\n\r\n*-1\r\n"))
        #expect(try reader.next() == .simpleString("OK"))
        #expect(try reader.next() == .error("ERR bad"))
        #expect(try reader.next() == .integer(-42))
        #expect(try reader.next() == .bulkString([97, 0, 98]))
        #expect(try reader.next() == .null)
        #expect(try reader.next() == .array([.array([.integer(1)]), .bulkString([])]))
        #expect(try reader.next() == .null)
        #expect(try reader.next() == nil)
    }

    @Test func waitsForAReplySplitAcrossReads() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "$5\r\nhel"))
        #expect(try reader.next() == nil)
        try reader.feed(ByteBuffer(string: "lo\r\n:7"))
        #expect(try reader.next() == .bulkString(Array("hello".utf8)))
        #expect(try reader.next() == nil)
        try reader.feed(ByteBuffer(string: "\r\n"))
        #expect(try reader.next() == .integer(7))
    }

    @Test func rejectsBytesThatAreNotRESP() throws {
        let reader = RESPReader()
        try reader.feed(ByteBuffer(string: "?what\r\n"))
        #expect(throws: RedisError.self) { try reader.next() }
    }

    @Test(arguments: [
        ("redis://127.0.0.1:6379", RedisConfiguration.Address.tcp(host: "127.0.0.1", port: 6379), nil as String?, nil as String?, 0),
        ("redis://cache", .tcp(host: "cache", port: 6379), nil, nil, 0),
        ("redis://:p%40ss@cache:7000/5", .tcp(host: "cache", port: 7000), nil, "p@ss", 5),
        ("redis://app:pw@[::1]:6380/2", .tcp(host: "::1", port: 6380), "app", "pw", 2),
        ("redis://secret@host/", .tcp(host: "host", port: 6379), nil, "secret", 0),
        ("unix:///run/redis.sock", .unixSocket(path: "/run/redis.sock"), nil, nil, 0),
        ("unix:///run/redis.sock?db=4&password=x", .unixSocket(path: "/run/redis.sock"), nil, "x", 4),
    ])
    func readsRedisURLs(url: String, address: RedisConfiguration.Address, username: String?, password: String?, database: Int) throws {
        let configuration = try RedisConfiguration(url: url)
        #expect(configuration.address == address)
        #expect(configuration.username == username)
        #expect(configuration.password == password)
        #expect(configuration.database == database)
        #expect(!configuration.description.contains("p@ss") && !configuration.description.contains(":pw"))
    }

    @Test(arguments: ["http://x", "redis://", "redis://h:0", "redis://h:99999", "redis://h:port", "redis://h/-1", "redis://h/x", "unix://relative", "unix:///s?foo=1", "redis://:%zz@h"])
    func refusesBadRedisURLs(url: String) {
        #expect(throws: RedisConfigurationError.self) { try RedisConfiguration(url: url) }
    }
}
