/// The three levels a counter's hits are kept at. Each level is split into bucket keys (slices): a
/// string of fixed-width counters, one per unit of the slice, in order (Redis's `BITFIELD`), so a
/// window's piece is one `GETRANGE`. See docs/data-model.md.
public enum BucketLevel: Int, Sendable, CaseIterable {
    /// 1 s units, a key per minute (60 counters).
    case seconds
    /// 60 s units, a key per hour (60 counters).
    case minutes
    /// 3600 s units, a key per day (24 counters).
    case hours

    /// The seconds one counter covers.
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

    /// The counter type of each unit, as `BITFIELD` names it: a second's hits fit 32 bits, a minute's
    /// or an hour's get 63.
    public var counterType: String { self == .seconds ? "u32" : "i64" }

    /// The bucket keys' role token (`KeySchema`).
    public var token: String {
        switch self {
        case .seconds: "s"
        case .minutes: "m"
        case .hours: "h"
        }
    }

    /// Bytes per unit in the bucket's string.
    public var counterWidth: Int { self == .seconds ? 4 : 8 }

    /// The index of `second`'s unit in its slice.
    public func slot(_ second: Int64) -> Int { Int((self.unitStart(second) - self.sliceStart(second)) / self.unit) }

    /// The sum of `count` counters of this level from the `first`-th in `bytes`, a bucket's string or a
    /// `GETRANGE` of it (big-endian; the string may end early: the units after its last written one
    /// are zero).
    public func sum(_ bytes: [UInt8], first: Int = 0, count: Int = .max) -> Int64 {
        let width = self.counterWidth
        var total: Int64 = 0
        var start = first * width
        let end = count == .max ? bytes.count : min(bytes.count, (first + count) * width)
        while start + width <= end {
            var value: UInt64 = 0
            for index in start..<(start + width) { value = value << 8 | UInt64(bytes[index]) }
            total += width == 8 ? Int64(bitPattern: value) : Int64(value)
            start += width
        }
        return total
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
