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

    /// - Parameter live: `now` is Redis's current second, so the current minute's set holds no hit after
    ///   it (but those counted while the read is in flight) and counts whole: with most recent hits in
    ///   the current minute, cutting it would make nearly every counter a candidate.
    init(_ window: WindowPlan, live: Bool) {
        var whole: [Set] = []
        var edges: [WindowPlan.Piece] = []
        for piece in window.pieces {
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
