/// The layout's numbers as Lua `local`s, which every script starts with, so that a level's unit, span
/// and counters are written in `BucketLevel` only and the roll-up's day here only (issue 27: window
/// math in one place; `ScriptGeometryTests` checks no script spells one itself).
enum ScriptGeometry {
    /// How far back a roll-up reaches, in seconds, at least: a minute's index (and its callbacks) lives
    /// this long past the minute, or `--max-range` if longer, and a roll-up position never lags more. A day.
    static let rollupHorizon: Int64 = 86_400

    /// Per level `<level>Unit` and `<level>Span` in seconds, `<level>Width` in bytes, `<level>Type` as
    /// `BITFIELD` names it and `<level>Format` as `struct.unpack` reads one counter (for example
    /// `minutesSpan`, `secondsType`); then `rollupHorizon`.
    static let declarations: String =
        BucketLevel.allCases.map { level in
            let format = (level.counterType.hasPrefix("u") ? ">I" : ">i") + "\(level.counterWidth)"
            return "local \(level)Unit, \(level)Span, \(level)Width, \(level)Type, \(level)Format = "
                + "\(level.unit), \(level.span), \(level.counterWidth), '\(level.counterType)', '\(format)'"
        }.joined(separator: "\n") + "\nlocal rollupHorizon = \(rollupHorizon)"
}
