import HitCounter

/// A request's query, decoded strictly: percent-escapes must be valid, values must be UTF-8, and a
/// name may appear once. Hummingbird's `queryParameters` is lenient on all three, so bad input would
/// pass unnoticed; here each problem becomes a 400 that names the parameter.
struct QueryParameters {
    private(set) var values: [String: String] = [:]
    /// Names in the order they first appeared, for messages.
    private(set) var names: [String] = []

    init(_ query: String?) throws(RequestError) {
        guard let query, !query.isEmpty else { return }
        for pair in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else {
                throw RequestError.badParameter("query", "has a parameter name that is not valid percent-encoded UTF-8")
            }
            guard let value = Self.decode(parts.count == 2 ? Array(parts[1]) : []) else {
                throw RequestError.badParameter(name, "is not valid percent-encoded UTF-8")
            }
            guard self.values.updateValue(value, forKey: name) == nil else {
                throw RequestError.badParameter(name, "is given more than once")
            }
            self.names.append(name)
        }
    }

    subscript(name: String) -> String? { self.values[name] }

    /// Decodes `%XX` escapes and `+` (a space, in form encoding); nil if an escape is broken or the
    /// bytes are not UTF-8. Every byte is kept: a leading byte-order mark is part of the value, as it is
    /// in a JSON body (keys compare byte for byte).
    private static func decode(_ encoded: some Collection<UInt8>) -> String? {
        // Most values (`k3`, `60`) have nothing to decode.
        guard encoded.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(validating: encoded, as: UTF8.self)
        }
        return PercentDecoding.decode(encoded, plusIsSpace: true).flatMap { String(validating: $0, as: UTF8.self) }
    }
}
