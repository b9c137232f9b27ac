import NIOCore

/// A duration as written on the command line: `10` and `10s` (seconds), `500ms`, `2m`, `1.5s`.
enum DurationText {
    private static let units: [(suffix: String, nanoseconds: Double)] = [
        ("ms", 1e6), ("s", 1e9), ("m", 60e9),
    ]

    /// The amount, or nil when the text is not a positive number with an optional unit.
    static func parse(_ text: String) -> TimeAmount? {
        var number = Substring(text)
        var scale = 1e9
        for unit in Self.units where text.hasSuffix(unit.suffix) {
            number = text.dropLast(unit.suffix.count)
            scale = unit.nanoseconds
            break
        }
        guard let value = Double(number), value.isFinite, value > 0, value * scale < Double(Int64.max) else { return nil }
        return .nanoseconds(Int64(value * scale))
    }

    /// `1.5s`, `500ms`, `2m`: how a report shows an amount.
    static func format(_ amount: TimeAmount) -> String {
        let nanoseconds = amount.nanoseconds
        if nanoseconds % 60_000_000_000 == 0 { return "\(nanoseconds / 60_000_000_000)m" }
        if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
        if nanoseconds % 1_000_000 == 0, nanoseconds < 1_000_000_000 { return "\(nanoseconds / 1_000_000)ms" }
        return "\(Double(nanoseconds) / 1e9)s"
    }
}
