/// The name of a counter: any non-empty bytes, so keys are binary-safe end to end.
///
/// The HTTP service accepts only UTF-8 keys without control characters; the library does not care.
public struct CounterKey: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
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

    /// The counter used when a request names none.
    public static let `default` = CounterKey("default")

    public var description: String { String(decoding: self.bytes, as: UTF8.self) }
}
