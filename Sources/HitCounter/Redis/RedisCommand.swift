import CHiredis
import NIOCore

/// One Redis command, already encoded as RESP by hiredis's `redisFormatCommandArgv`.
///
/// Arguments are bytes, so keys are binary-safe end to end: nothing is ever formatted into a string.
/// Encoding happens where the command is made, off the connection's event loop.
struct RedisCommand: Sendable {
    /// The command's name, for logs and errors (never its arguments: they may hold user keys or secrets).
    let name: String
    let encoded: ByteBuffer

    init(_ name: String, _ arguments: [RedisArgument] = []) {
        self.name = name
        var all: [[UInt8]] = [Array(name.utf8)]
        all.reserveCapacity(arguments.count + 1)
        for argument in arguments { all.append(argument.bytes) }
        self.encoded = Self.format(all)
    }

    private static func format(_ arguments: [[UInt8]]) -> ByteBuffer {
        // hiredis wants one pointer and one length per argument: lay the arguments out back to back.
        let lengths = arguments.map(\.count)
        var joined: [UInt8] = []
        joined.reserveCapacity(lengths.reduce(1, +))
        for argument in arguments { joined.append(contentsOf: argument) }
        joined.append(0)  // never an empty buffer, so baseAddress is never nil
        return joined.withUnsafeBufferPointer { base in
            var offset = 0
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(lengths.count)
            for length in lengths {
                pointers.append(UnsafeRawPointer(base.baseAddress! + offset).assumingMemoryBound(to: CChar.self))
                offset += length
            }
            var target: UnsafeMutablePointer<CChar>?
            let size = redisFormatCommandArgv(&target, Int32(lengths.count), &pointers, lengths)
            defer { redisFreeCommand(target) }
            guard size > 0, let target else { fatalError("hiredis: out of memory formatting a command") }
            var buffer = ByteBufferAllocator().buffer(capacity: Int(size))
            buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(size)))
            return buffer
        }
    }
}

/// A command argument: bytes, a string, or an integer written in decimal.
struct RedisArgument: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    let bytes: [UInt8]

    init(bytes: [UInt8]) { self.bytes = bytes }
    init(_ string: String) { self.bytes = Array(string.utf8) }
    init(_ integer: some BinaryInteger) { self.bytes = Array(String(integer).utf8) }
    init(stringLiteral value: String) { self.init(value) }
    init(integerLiteral value: Int) { self.init(value) }
}
