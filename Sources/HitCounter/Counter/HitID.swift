/// A client's id for one hit, such as a request id: a given `(key, id)` is counted once within the
/// store's dedup period, however many replicas receive it and however often it is retried.
public struct HitID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    public init(_ string: String) {
        self.bytes = Array(string.utf8)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public var description: String { String(decoding: self.bytes, as: UTF8.self) }
}
