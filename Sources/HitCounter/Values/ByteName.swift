/// Bytes that name something: a counter's key, a hit's id. Binary-safe end to end; made from bytes or
/// from a string's UTF-8, compared byte for byte (no Unicode normalisation, no trimming).
public protocol ByteName: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    var bytes: [UInt8] { get }
    init(bytes: [UInt8])
}

extension ByteName {
    public init(_ string: String) {
        self.init(bytes: Array(string.utf8))
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public var description: String { String(decoding: self.bytes, as: UTF8.self) }

    /// The longest name: every bucket key repeats a counter's key, and each id is kept for the
    /// dedup period.
    public static var maxBytes: Int { 200 }

    /// The library's bound: 1 to 200 bytes, any bytes (the library is binary-safe). `argument` names
    /// what is checked in the error.
    public func validate(as argument: HitCounterError.Argument) throws(HitCounterError) {
        guard (1...Self.maxBytes).contains(self.bytes.count) else {
            throw HitCounterError(argument, "\(argument.rawValue) must be 1 to \(Self.maxBytes) bytes")
        }
    }

    /// The rule for names a client sends as text (the HTTP API): 1 to 200 bytes of UTF-8 without
    /// control characters.
    public func validateAsText(as argument: HitCounterError.Argument) throws(HitCounterError) {
        guard (1...Self.maxBytes).contains(self.bytes.count), let text = String(validating: self.bytes, as: UTF8.self) else {
            throw HitCounterError(argument, "\(argument.rawValue) must be 1 to \(Self.maxBytes) bytes of UTF-8")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw HitCounterError(argument, "\(argument.rawValue) must not contain control characters")
        }
    }
}
