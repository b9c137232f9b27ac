/// Which top sets add up to a window's hits per counter (docs/top-keys.md).
///
/// The window is cut as `WindowPlan` cuts it. Its whole hours and whole minutes are top sets whose
/// scores count in full, and so is the current minute of a live read. The seconds left over lie in at
/// most two minutes the window cuts (its edges): those minutes' sets bound each counter's share from
/// above, and the exact share is read from the counter's second-level bucket, for the few counters
/// whose rank depends on it.
struct TopPlan: Sendable {
    /// A top set: the minute or hour starting at `unitStart`.
    struct Set: Sendable, Hashable {
        let level: BucketLevel
        let unitStart: Int64
    }

    /// The sets counted whole.
    let whole: [Set]
    /// The window's seconds in each minute it cuts; the piece's `sliceStart` is the minute.
    let edges: [WindowPlan.Piece]

    /// - Parameter live: `now` is Redis's current second, so the current minute's and the current hour's
    ///   sets hold no hit after it (but those counted while the read is in flight) and count whole: the
    ///   current minute, because most recent hits are in it and cutting it would make nearly every
    ///   counter a candidate; the current hour, when the window holds all of it so far, because it is
    ///   one set instead of up to sixty.
    init(_ window: WindowPlan, live: Bool) {
        var whole: [Set] = []
        var edges: [WindowPlan.Piece] = []
        let hour = BucketLevel.hours.unitStart(window.now)
        let wholeHour = live && window.now - Int64(window.range) + 1 <= hour && window.now + 1 - hour < BucketLevel.hours.unit
        if wholeHour { whole.append(Set(level: .hours, unitStart: hour)) }
        for piece in window.pieces where !(wholeHour && piece.first >= hour) {
            if piece.level == .seconds && live && piece.last == window.now && piece.first == piece.sliceStart {
                whole.append(Set(level: .minutes, unitStart: piece.sliceStart))
            } else if piece.level == .seconds {
                edges.append(piece)
            } else {
                whole += stride(from: piece.first, through: piece.last, by: Int(piece.level.unit)).map { Set(level: piece.level, unitStart: $0) }
            }
        }
        self.whole = whole
        self.edges = edges
    }
}
