/// The three levels a counter's hits are kept at. Each level is split into bucket keys (slices): a
/// sorted set whose members are the starts of its units (epoch seconds) and whose scores are the hits
/// in each unit. See docs/data-model.md.
public enum BucketLevel: Int, Sendable, CaseIterable {
    /// 1 s units, a key per minute (<= 60 members).
    case seconds
    /// 60 s units, a key per hour (<= 60 members).
    case minutes
    /// 3600 s units, a key per day (<= 24 members).
    case hours

    /// The seconds one member covers.
    public var unit: Int64 {
        switch self {
        case .seconds: 1
        case .minutes: 60
        case .hours: 3600
        }
    }

    /// The seconds one bucket key covers.
    public var span: Int64 {
        switch self {
        case .seconds: 60
        case .minutes: 3600
        case .hours: 86_400
        }
    }

    /// The next level up, whose unit is this level's span.
    var coarser: BucketLevel? { BucketLevel(rawValue: self.rawValue + 1) }

    /// The start of the unit holding `second`.
    public func unitStart(_ second: Int64) -> Int64 { second.roundedDown(to: self.unit) }

    /// The start of the slice (bucket key) holding `second`.
    public func sliceStart(_ second: Int64) -> Int64 { second.roundedDown(to: self.span) }
}

extension Int64 {
    /// The largest multiple of `step` at or below this value (also below zero).
    func roundedDown(to step: Int64) -> Int64 {
        let remainder = self % step
        return remainder < 0 ? self - remainder - step : self - remainder
    }
}
