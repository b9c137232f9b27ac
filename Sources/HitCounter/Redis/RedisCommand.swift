import NIOCore

/// One Redis command, encoded as RESP straight into the buffer the connection writes: `*<n>\r\n`, then
/// `$<length>\r\n<bytes>\r\n` per argument. No intermediate arrays and no C call per command (the
/// format is two lines per argument); hiredis parses the replies (`RESPReader`).
///
/// Arguments are bytes, so keys are binary-safe end to end: nothing is ever formatted into a string.
/// Encoding happens where the command is made, off the connection's event loop.
struct RedisCommand: Sendable {
    /// The command's name, for logs and errors (never its arguments: they may hold user keys or secrets).
    let name: String
    let encoded: ByteBuffer

    /// The names of `commands`, each once, in order: `TIME GETRANGE` for a window read.
    static func names(_ commands: [RedisCommand]) -> String {
        var names: [String] = []
        for command in commands where !names.contains(command.name) { names.append(command.name) }
        return names.joined(separator: " ")
    }

    /// Commands without arguments that hot paths send often: encoded once, shared (a `ByteBuffer` is
    /// copied on write, and a write does not write to it).
    static let multi = RedisCommand("MULTI")
    static let exec = RedisCommand("EXEC")
    static let time = RedisCommand("TIME")

    init(_ name: String, _ arguments: [RedisArgument] = []) {
        self.name = name
        var buffer = ByteBufferAllocator().buffer(capacity: 16 + name.utf8.count + arguments.reduce(0) { $0 + $1.encodedSizeEstimate })
        buffer.writeStaticString("*")
        buffer.writeString(String(arguments.count + 1))
        buffer.writeStaticString("\r\n")
        RedisArgument(name).write(to: &buffer)
        for argument in arguments { argument.write(to: &buffer) }
        self.encoded = buffer
    }
}

/// A command argument: bytes, a string, or an integer written in decimal.
struct RedisArgument: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    private enum Value: Sendable {
        case bytes([UInt8])
        case string(String)
        case integer(Int64)
    }

    private let value: Value

    init(bytes: [UInt8]) { self.value = .bytes(bytes) }
    init(_ string: String) { self.value = .string(string) }
    init(_ integer: some BinaryInteger) { self.value = .integer(Int64(integer)) }
    init(stringLiteral value: String) { self.init(value) }
    init(integerLiteral value: Int) { self.init(value) }


    fileprivate var encodedSizeEstimate: Int {
        switch self.value {
        case .bytes(let bytes): bytes.count + 16
        case .string(let string): string.utf8.count + 16
        case .integer: 36
        }
    }

    /// `$<length>\r\n<bytes>\r\n`.
    fileprivate func write(to buffer: inout ByteBuffer) {
        switch self.value {
        case .bytes(let bytes):
            Self.bulk(count: bytes.count, into: &buffer)
            buffer.writeBytes(bytes)
        case .string(let string):
            Self.bulk(count: string.utf8.count, into: &buffer)
            buffer.writeString(string)
        case .integer(let integer):
            let text = String(integer)
            Self.bulk(count: text.utf8.count, into: &buffer)
            buffer.writeString(text)
        }
        buffer.writeStaticString("\r\n")
    }

    private static func bulk(count: Int, into buffer: inout ByteBuffer) {
        buffer.writeStaticString("$")
        buffer.writeString(String(count))
        buffer.writeStaticString("\r\n")
    }
}
