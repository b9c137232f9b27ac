/// One Redis reply, copied out of hiredis's `redisReply` so that no C memory outlives the read.
///
/// Only RESP2 types: the service speaks RESP2 to stay compatible with hiredis 0.14 and 1.x alike.
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    case bulkString([UInt8])
    case null
    case array([RESPValue])
}

extension RESPValue {
    /// The integer a reply carries: integer replies, and bulk strings holding a decimal integer.
    var int64: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString(let bytes): Int64(String(decoding: bytes, as: UTF8.self))
        case .simpleString(let string): Int64(string)
        default: nil
        }
    }

    /// The text of a string reply.
    var string: String? {
        switch self {
        case .simpleString(let string): string
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }
}
