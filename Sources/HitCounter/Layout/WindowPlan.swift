/// Which units of which bucket keys add up to a window `now - range < t <= now`: the whole of the
/// window math, used by the Redis store's reads (docs/data-model.md).
///
/// The window `[now - range + 1, now + 1)` is cut at minute and hour boundaries: whole hours come from
/// the hour level, whole minutes at the ragged edges from the minute level, and the seconds left over
/// from the second level. A full day costs at most 24 + 2 * 59 + 2 * 59 units in at most 7 bucket
/// keys, whatever the traffic. Minutes the fold has not reached yet come from the second level: a
/// bucket key (60 units) each.
public struct WindowPlan: Sendable, Hashable {
    /// The units to read from one bucket key: the consecutive units from `first` to `last` (their
    /// starts, epoch seconds).
    public struct Piece: Sendable, Hashable {
        public let level: BucketLevel
        public let sliceStart: Int64
        public let first: Int64
        public let last: Int64
    }

    public let now: Int64
    public let range: Int
    /// The fold's watermark the plan was made with (nil: every level holds every hit).
    public let foldedBefore: Int64?
    /// Oldest first; no two pieces cover the same second, and together they cover the window.
    public let pieces: [Piece]

    /// - Parameter foldedBefore: the fold's watermark: the first minute whose minute and hour units may
    ///   not hold its hits yet (docs/data-model.md). The window's part from it on is read from the
    ///   second level alone, and the coarser levels only where every minute they sum is before it.
    ///   Nil: every level holds every hit.
    public init(now: Int64, range: Int, foldedBefore: Int64? = nil) {
        precondition(range >= 1, "a window is at least one second")
        self.now = now
        self.range = range
        self.foldedBefore = foldedBefore
        let from = now - Int64(range) + 1, to = now + 1
        let edge = foldedBefore.map { min(max($0, from), to) } ?? to
        var pieces: [Piece] = []
        Self.cover(.seconds, from: from, to: edge, into: &pieces)
        Self.units(.seconds, from: edge, to: to, into: &pieces)
        self.pieces = pieces.sorted { $0.first < $1.first }
    }

    /// Covers `[from, to)`, both multiples of `level`'s unit: the aligned middle from the next level
    /// up, the edges from this one.
    private static func cover(_ level: BucketLevel, from: Int64, to: Int64, into pieces: inout [Piece]) {
        if let coarser = level.coarser {
            let first = -(-from).roundedDown(to: coarser.unit)  // from, rounded up
            let last = to.roundedDown(to: coarser.unit)
            if first < last {
                Self.units(level, from: from, to: first, into: &pieces)
                Self.cover(coarser, from: first, to: last, into: &pieces)
                Self.units(level, from: last, to: to, into: &pieces)
                return
            }
        }
        Self.units(level, from: from, to: to, into: &pieces)
    }

    /// Every unit of `level` in `[from, to)`, one piece per bucket key.
    private static func units(_ level: BucketLevel, from: Int64, to: Int64, into pieces: inout [Piece]) {
        var start = from
        while start < to {
            let sliceStart = level.sliceStart(start)
            let end = min(sliceStart + level.span, to)
            pieces.append(Piece(level: level, sliceStart: sliceStart, first: start, last: end - level.unit))
            start = end
        }
    }
}
